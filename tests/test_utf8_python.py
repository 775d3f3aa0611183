#!/usr/bin/python3
"""test_utf8_python.py: sail's UTF-8 decoder and Python-str helpers against
CPython itself: bytes.decode("utf-8", errors="replace") on every 1- and
2-byte input, all interesting 3- and 4-byte prefixes and random byte soup;
str.isspace() and str.lower() on every assigned code point. Runs the
$BUILD/tests/test_utf8 binary in its --decode / --props modes."""
import os
import random
import subprocess
import sys
import unicodedata

BIN = os.path.join(os.environ.get("BUILD", "build"), "tests", "test_utf8")
n_ok = n_fail = 0


def check(cond, name):
    global n_ok, n_fail
    if cond:
        n_ok += 1
        print(f"ok {n_ok + n_fail} - {name}")
    else:
        n_fail += 1
        print(f"not ok {n_ok + n_fail} - {name}")


def decode_c(data):
    out = subprocess.run([BIN, "--decode"], input=data, capture_output=True, check=True).stdout
    return [int(x, 16) for x in out.split()]


def test_decode():
    # Many inputs in one run: join them with a newline, which always decodes
    # on its own, so the outputs can be split again.
    cases = [bytes([a]) for a in range(256)]
    cases += [bytes([a, b]) for a in range(0x80, 0x100) for b in range(0x100) if b != 0x0A]
    lead3 = [0xE0, 0xE1, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF4, 0xF5]
    edges = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF]
    cases += [bytes([a, b, c]) for a in lead3 for b in edges for c in edges]
    cases += [bytes([a, b, c, d]) for a in (0xF0, 0xF4, 0xF1) for b in edges for c in edges for d in edges]
    rnd = random.Random(1234)
    cases += [bytes(rnd.choice(edges + [0xC2, 0xE2, 0xF0, 0xF4, 0xED]) for _ in range(rnd.randint(1, 12)))
              for _ in range(3000)]
    cases = [c for c in cases if b"\n" not in c]
    blob = b"\n".join(cases)
    got = decode_c(blob)
    want = [ord(ch) for ch in blob.decode("utf-8", errors="replace")]
    check(got == want, f"decoder matches bytes.decode(errors='replace') on {len(cases)} inputs")
    if got != want:
        for i, (g, w) in enumerate(zip(got, want)):
            if g != w:
                print(f"#   first difference at code point {i}: got {g:X}, want {w:X}")
                break


def test_props():
    out = subprocess.run([BIN, "--props"], capture_output=True, check=True, text=True).stdout
    bad_space = bad_lower = 0
    for line in out.splitlines():
        f = line.split()
        c = int(f[0], 16)
        ch = chr(c)
        if unicodedata.category(ch) == "Cn":
            continue  # unassigned in Python's Unicode 14: utf8proc may know newer data
        if (f[1] == "1") != ch.isspace():
            bad_space += 1
            if bad_space < 5:
                print(f"#   isspace differs at U+{c:04X}")
        low = "".join(chr(int(x, 16)) for x in f[2:])
        if low != ch.lower():
            bad_lower += 1
            if bad_lower < 5:
                print(f"#   lower differs at U+{c:04X}: {low!r} vs {ch.lower()!r}")
    check(bad_space == 0, f"isspace matches str.isspace on every assigned code point ({bad_space} differ)")
    check(bad_lower == 0, f"lower matches str.lower on every assigned code point ({bad_lower} differ)")


if __name__ == "__main__":
    if not os.access(BIN, os.X_OK):
        print(f"skip - {BIN} is not built")
        sys.exit(0)
    test_decode()
    test_props()
    print(f"# {n_ok} passed, {n_fail} failed")
    sys.exit(1 if n_fail else 0)
