"""Shared helpers for the Python tests (tests/test_*.py): TAP check lines with
a pass/fail count, the `sail` CLI runner, the build/golden locations and the
small fixtures many tests start from (vocabularies, a random tiny model, the
shapes set). Not named test_*.py so tests/run.sh does not run it as a test.
Tests import it (and each other) by name: Python puts the running script's
folder first on sys.path."""
import os
import socket
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
# Absolute defaults: a test also runs from outside the repository root.
BUILD = os.environ.get("BUILD", os.path.join(HERE, "..", "build"))
SAIL = os.environ.get("SAIL", os.path.join(BUILD, "sail"))
GOLDEN = os.environ.get("SAIL_GOLDEN", os.path.join(HERE, "..", "..", "shared", "golden"))

n = 0
failed = 0


def check(ok, name, detail=""):
    """One TAP line `ok N - name` / `not ok N - name # detail`; returns ok."""
    global n, failed
    n += 1
    print("%s %d - %s%s" % ("ok" if ok else "not ok", n, name, (" # " + detail) if detail else ""))
    sys.stdout.flush()
    failed += not ok
    return ok


def skip_import(what, e):
    """Ends a test whose Python modules are missing with one `skip` line
    (exit 0, so tests/run.sh goes on and counts it): "skip - WHAT (error)"."""
    print("skip - %s (%s)" % (what, e))
    sys.exit(0)


def tool(name):
    """A test driver that `make tests-build` puts in BUILD/tools."""
    return os.path.join(BUILD, "tools", name)


def built(*paths):
    """Whether the test drivers at paths exist; if not, one failed check
    names the missing ones."""
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        check(False, "test drivers built (run make tests-build)", "missing " + ", ".join(missing))
    return not missing


def have(path):
    """Whether a file the test needs (the shipped model, ...) is there; a
    skip line names it if not."""
    if not os.path.exists(path):
        print("skip - %s is absent" % path)
        return False
    return True


def text_image_model(tmp, check=check):
    """The shipped model without its audio tower (its text and vision towers
    and fusion, `sail compose`d): a model that embeds texts and images only.
    None, after a skip line or a failed check (check: a test's own), when
    that cannot be made."""
    shipped = os.path.join(HERE, "..", "models", "sail-tiny.gguf")
    out = os.path.join(tmp, "text-image.gguf")
    if not have(shipped):
        return None
    r = subprocess.run([SAIL, "compose", "--text", shipped, "--vision", shipped, "--fusion", shipped, "-o", out],
                       capture_output=True, text=True)
    return out if check(r.returncode == 0, "the shipped model's text and image side alone (sail compose)",
                        r.stderr[-200:]) else None


def shapes(tmp, pairs, seed):
    """`sail data shapes` of so many pairs (seed) in tmp/shapes: the folder,
    or None after a failed check."""
    d = os.path.join(tmp, "shapes")
    r = subprocess.run([SAIL, "data", "shapes", "-n", str(pairs), "--seed", str(seed), "-o", d], capture_output=True,
                       text=True)
    return d if check(r.returncode == 0, "shapes data generated", r.stderr[-200:] if r.returncode else "") else None


def free_port():
    """A loopback port free now (the kernel's pick for a bound socket)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def files(folder):
    """{path relative to folder: bytes} of every file below folder (to
    compare two runs' outputs byte for byte)."""
    out = {}
    for base, _, names in os.walk(folder):
        for name in names:
            p = os.path.join(base, name)
            with open(p, "rb") as f:
                out[os.path.relpath(p, folder)] = f.read()
    return out


def add(passed, failures):
    """Counts TAP results reported by a child process (already printed)."""
    global n, failed
    n += passed
    failed += failures


def run(cmd, ok=True, stdin=None):
    """Runs cmd; when ok, a non-zero exit is reported as a `#` line."""
    r = subprocess.run([str(a) for a in cmd], capture_output=True, input=stdin)
    if ok and r.returncode:
        print("# %s failed (%d): %s" % (" ".join(map(str, cmd)), r.returncode, r.stderr.decode(errors="replace")))
    return r


def sail(*args, ok=True, stdin=None):
    return run([SAIL] + list(args), ok, stdin)


def run_cases(*cases):
    """Runs each case(tmp) in turn, sharing one temporary folder; returns
    the exit status (summary())."""
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            case(tmp)
    return summary()


def summary():
    """The closing comment line; returns the process exit status."""
    print("# %d checks, %d failed" % (n, failed))
    return 1 if failed else 0


def vocab(tmp, chars, words=()):
    """The Chinese-CLIP vocabulary from GOLDEN or, with a skip line, a small
    one in tmp: the special tokens, then each of chars, then words."""
    path = os.path.join(GOLDEN, "chinese_clip_vocab.txt")
    if os.path.exists(path):
        return path
    print("skip - %s is absent; using a small vocabulary" % path)
    return small_vocab(tmp, list(chars) + list(words))


def small_vocab(tmp, tokens):
    """tmp/vocab.txt: BERT's special tokens, then tokens, one a line."""
    path = os.path.join(tmp, "vocab.txt")
    with open(path, "w") as f:
        f.write("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(tokens)) + "\n")
    return path


def init_tiny(tmp, vocab, seed):
    """`sail init --config tiny` (random weights, seed) as tmp/m.gguf: its
    path, or None after a failed check."""
    model = os.path.join(tmp, "m.gguf")
    if run([SAIL, "init", "--config", "tiny", "--vocab", vocab, "--seed", seed, "-o", model]).returncode:
        check(False, "sail init")
        return None
    return model


_gguf_cache = {}


def gguf_tensors(path):
    """{name: (ggml type, shape (rows first), absolute data offset)} of a
    GGUF v3 file, read independently of sail (cached per file version)."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_mtime_ns, st.st_size)
    if key not in _gguf_cache:
        _gguf_cache[key] = _gguf_read(path)
    return _gguf_cache[key]


def _gguf_read(path):
    import struct
    with open(path, "rb") as f:
        b = f.read(1 << 24)  # the header and directory (the tensors' data is not needed)
    n_t, n_kv = struct.unpack_from("<QQ", b, 8)
    o, align = 24, 32
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def string(o):
        n, = struct.unpack_from("<Q", b, o)
        return b[o + 8:o + 8 + n].decode(), o + 8 + n

    def skip(t, o):
        if t == 8:
            return string(o)
        if t == 9:
            et, n = struct.unpack_from("<IQ", b, o)
            o += 12
            for _ in range(n):
                _, o = skip(et, o)
            return None, o
        return b[o:o + sizes[t]], o + sizes[t]
    for _ in range(n_kv):
        k, o = string(o)
        t, = struct.unpack_from("<I", b, o)
        v, o = skip(t, o + 4)
        if k == "general.alignment":
            align = struct.unpack("<I", v)[0]
    infos = {}
    for _ in range(n_t):
        name, o = string(o)
        nd, = struct.unpack_from("<I", b, o)
        ne = struct.unpack_from("<%dQ" % nd, b, o + 4)
        o += 4 + 8 * nd
        t, off = struct.unpack_from("<IQ", b, o)
        o += 12
        infos[name] = (t, tuple(reversed(ne)), off)
    base = (o + align - 1) // align * align
    return {k: (t, shape, base + off) for k, (t, shape, off) in infos.items()}


def gguf_array(path, name):
    """Tensor `name` of a GGUF file as float32 (F32 or F16 storage)."""
    import numpy as np
    t, shape, off = gguf_tensors(path)[name]
    dt = {0: np.float32, 1: np.float16}[t]
    n = int(np.prod(shape))
    return np.fromfile(path, dtype=dt, count=n, offset=off).astype(np.float32).reshape(shape)
