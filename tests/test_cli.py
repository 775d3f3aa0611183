"""Black-box tests of the `sail` CLI: init with the Chinese-CLIP vocabulary,
info, embed in every format, Matryoshka prefixes, --help everywhere,
errors that go to stderr with a non-zero exit, and a text embed that loads
none of the libraries only decoding and `sail data` use."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

import tap
from tap import GOLDEN, SAIL, check, sail


def main():
    with tempfile.TemporaryDirectory() as tmp:
        vocab = tap.vocab(tmp, "abcdefghijklmnopqrstuvwxyz红色的圆形")
        model = os.path.join(tmp, "tiny.gguf")
        r = sail("init", "--config", "tiny", "--vocab", vocab, "--seed", 1, "-o", model)
        check(r.returncode == 0 and os.path.getsize(model) > 1_000_000, "sail init --config tiny writes a model")

        r = sail("info", model)
        out = r.stdout.decode()
        check(r.returncode == 0 and "sail-tiny" in out and "parameters:" in out and "F32" in out,
              "sail info shows the config, parameter count and tensor types")

        texts = ["红色的圆形", "a red circle", "黑色高帮运动鞋"]
        args = ["embed", "--model", model]
        for t in texts:
            args += ["--text", t]
        r = sail(*args)
        doc = json.loads(r.stdout) if r.returncode == 0 else {"data": []}
        vecs = np.array([d["embedding"] for d in doc["data"]], dtype=np.float32)
        check(vecs.shape == (3, 512) and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5),
              "embed --format json: 3 unit vectors of 512")
        check([d["text"] for d in doc["data"]] == texts, "JSON keeps the inputs (UTF-8) in order")

        npy = os.path.join(tmp, "v.npy")
        r = sail(*(args + ["--format", "npy", "-o", npy]))
        a = np.load(npy) if r.returncode == 0 else np.zeros(0)
        check(a.dtype == np.float32 and a.shape == (3, 512) and np.allclose(a, vecs, atol=1e-7),
              "embed --format npy matches the JSON vectors")

        r = sail(*(args + ["--format", "tsv"]))
        t = np.loadtxt(r.stdout.decode().splitlines(), delimiter="\t", dtype=np.float32)
        check(t.shape == (3, 512) and np.allclose(t, vecs, atol=1e-7), "embed --format tsv matches")

        r = sail(*(args + ["--dim", 256, "--format", "npy", "-o", npy]))
        p = np.load(npy)
        ref = vecs[:, :256] / np.linalg.norm(vecs[:, :256], axis=1, keepdims=True)
        check(p.shape == (3, 256) and np.allclose(p, ref, atol=1e-6), "--dim 256 is the re-normalised Matryoshka prefix")

        r = sail("embed", "--model", model, "--text", "a", "--text", "a" * 5000)
        check(r.returncode == 0, "a text longer than the context is truncated, not refused")

        golden = os.path.join(GOLDEN, "bert_wordpiece_golden.jsonl")
        if os.path.exists(golden) and vocab.endswith("chinese_clip_vocab.txt"):
            rows = [json.loads(l) for l in open(golden, "rb").read().split(b"\n") if l]
            rows = sorted(rows, key=lambda r: -len(r["ids"]))[:3] + rows[:20]
            stdin = b"\n".join(r["text"].encode("utf-8", "surrogatepass") for r in rows) + b"\n"
            r = subprocess.run([SAIL, "tokenize", "--model", model], input=stdin, capture_output=True)
            got = [json.loads(l) for l in r.stdout.decode().splitlines()]
            want = [([101] + r_["ids"][:50] + [102] + [0] * 52)[:52] for r_ in rows]
            check(r.returncode == 0 and got == want and len(rows[0]["ids"]) > 50,
                  "tokenize --model: [CLS] golden ids[:50] [SEP] padded to 52, for %d golden lines (longest %d pieces)"
                  % (len(rows), len(rows[0]["ids"])))
        else:
            print("skip - tokenize --model golden check needs ../shared/golden")

        img = os.path.join(tmp, "img.ppm")
        rng = np.random.default_rng(1)
        with open(img, "wb") as f:
            f.write(b"P6\n70 50\n255\n" + rng.integers(0, 256, (50, 70, 3), dtype=np.uint8).tobytes())
        a, b = os.path.join(tmp, "a.npy"), os.path.join(tmp, "b.npy")
        r1 = sail("preprocess", "--image", img, "--model", model, "-o", a)
        r2 = sail("preprocess", "--image", img, "--size", 128, "--crop", 128, "-o", b)
        check(r1.returncode == 0 and r2.returncode == 0 and np.load(a).shape == (3, 128, 128)
              and np.array_equal(np.load(a), np.load(b)),
              "preprocess --model uses the model's size, crop, mean and std")

        for cmd in ("embed", "info", "init", "tokenize", "vocab", "preprocess"):
            r = sail(cmd, "--help")
            check(r.returncode == 0 and b"usage: sail " + cmd.encode() in r.stdout, "sail %s --help" % cmd)

        bad = [
            (["embed", "--model", model], "nothing to embed"),
            (["embed", "--model", os.path.join(tmp, "missing.gguf"), "--text", "x"], "missing.gguf"),
            (["embed", "--model", vocab, "--text", "x"], "GGUF"),
            (["embed", "--model", model, "--text", "x", "--dim", 600], "larger than the model"),
            (["embed", "--model", model, "--image", os.path.join(tmp, "none.png")], "none.png"),
            (["embed", "--model", model, "--text", "x", "--format", "xml"], "json, npy or tsv"),
            (["init", "--config", "huge", "--vocab", vocab, "-o", model + "2"], "unknown config"),
            (["init", "--config", "tiny", "--vocab", vocab, "--dim", 300, "-o", model + "2"], "256, 512 or 768"),
            (["info"], "no model file"),
            (["frobnicate"], "unknown command"),
        ]
        for argv, want in bad:
            r = sail(*argv, ok=False)
            err = r.stderr.decode(errors="replace")
            check(r.returncode != 0 and want in err and not r.stdout, "sail %s -> exit %d: %s" % (" ".join(map(str, argv[:2])), r.returncode, err.strip().splitlines()[0][:120] if err.strip() else ""))

        # the libraries of features a run may not use load when first used (src/core/dl.h)
        lazy = ("libavformat", "libavcodec", "libsox", "libespeak-ng", "libcairo", "librsvg", "liblapack",
                "libopenblas")
        env = dict(os.environ, LD_DEBUG="files")
        r = subprocess.run([SAIL, "embed", "--model", model, "--text", "a red circle"], capture_output=True,
                           text=True, env=env)
        loaded = [lib for lib in lazy if "file=%s.so" % lib in r.stderr]
        check(r.returncode == 0 and not loaded and "file=libc.so" in r.stderr,
              "a text embed loads none of FFmpeg, sox, espeak-ng, cairo, librsvg, LAPACK (loaded: %s)" % loaded)
        check_kernel_level()
    return tap.summary()


def check_kernel_level():
    """`sail --version` names the kernels' level: the highest /proc/cpuinfo
    allows (amx may fall back to avx512bf16 where Linux refuses the tile
    state), and SAIL_ISA caps it."""
    levels = ["ref", "avx2", "avx512", "avx512vnni", "avx512bf16", "amx"]
    needs = [[], ["avx2", "fma", "f16c"], ["avx512f", "avx512bw", "avx512dq", "avx512vl"], ["avx512_vnni"],
             ["avx512_bf16"], ["amx_tile", "amx_int8"]]
    flags = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    top = 0
    while top + 1 < len(levels) and all(x in flags for x in needs[top + 1]):
        top += 1

    def level(env_isa):
        env = dict(os.environ)
        env.pop("SAIL_ISA", None)
        if env_isa:
            env["SAIL_ISA"] = env_isa
        r = subprocess.run([SAIL, "--version"], capture_output=True, text=True, env=env)
        out = r.stdout.strip()
        return out[out.find("(kernels: ") + 10:-1] if r.returncode == 0 and out.endswith(")") else out

    got = level(None)
    ok = got == levels[top] or (levels[top] == "amx" and got == "avx512bf16")
    check(ok, "sail --version names the kernel level this CPU allows: %s (cpuinfo allows %s)" % (got, levels[top]))
    capped = {isa: level(isa) for isa in levels[:top + 1]}
    check(all(capped[isa] == isa or (isa == "amx" and capped[isa] == "avx512bf16") for isa in capped),
          "SAIL_ISA caps the level --version names: %s" % capped)


if __name__ == "__main__":
    sys.exit(main())
