"""Shared helpers for the Python tests (tests/test_*.py): TAP check lines with
a pass/fail count, the `sail` CLI runner and the build/golden locations.
Not named test_*.py so tests/run.sh does not run it as a test."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("BUILD", "build")
SAIL = os.environ.get("SAIL", "build/sail")
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
    path = os.path.join(tmp, "vocab.txt")
    with open(path, "w") as f:
        f.write("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(chars) + list(words)) + "\n")
    return path
