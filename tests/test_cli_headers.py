"""The sail CLI is a client of the public headers only (issue 20, "one
house"): every #include "..." in cli/ names a file of include/ or one of
cli/'s own (beside the including file, or in cli/ itself, which the MPI
build adds with -Icli), so
whatever a command does, a C or Python user of libsail can do too. Each
public header also compiles on its own, as C11 and as C++ (its extern "C"
block), with the flags the build uses. The Makefile compiles cli/ without
-Isrc as well; this test names the offending line."""
import os
import re
import subprocess
import sys
import tempfile

import tap
from tap import HERE, check

ROOT = os.path.normpath(os.path.join(HERE, ".."))
CLI = os.path.join(ROOT, "cli")
INCLUDE = os.path.join(ROOT, "include")

INC = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def offending():
    """(file, include) pairs in cli/ that reach outside include/ and cli/."""
    bad, seen = [], 0
    for d, _, names in os.walk(CLI):
        for name in sorted(names):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(d, name)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            for inc in INC.findall(text):
                seen += 1
                rel = os.path.relpath(path, CLI)
                beside = os.path.normpath(os.path.join(d, inc))
                ok = (os.path.exists(beside) and beside.startswith(CLI + os.sep)) or \
                    os.path.exists(os.path.join(CLI, inc)) or os.path.exists(os.path.join(INCLUDE, inc))
                if not ok:
                    bad.append("%s: %s" % (rel, inc))
    return bad, seen


def main():
    bad, seen = offending()
    check(seen > 50 and not bad, "the %d #include lines of cli/ name only include/ and cli/ headers" % seen,
          "; ".join(bad))

    # the check itself: an internal header is caught
    with tempfile.TemporaryDirectory(dir=CLI) as tmp:
        probe = os.path.join(tmp, "probe.c")
        with open(probe, "w") as f:
            f.write('#include "sail.h"\n#include "train/train.h"\n')
        bad2, _ = offending()
    check(len(bad2) == len(bad) + 1 and any(b.endswith("probe.c: train/train.h") for b in bad2),
          "an #include of src/train/train.h in cli/ is caught", "; ".join(bad2))

    headers = sorted(h for h in os.listdir(INCLUDE) if h.endswith(".h"))
    check(len(headers) >= 4, "include/ holds the public headers: %s" % ", ".join(headers))
    with tempfile.TemporaryDirectory() as tmp:
        for h in headers:
            for lang, cc, std in (("c", "gcc", "-std=c11"), ("c++", "g++", "-std=c++17")):
                src = os.path.join(tmp, "one." + ("c" if lang == "c" else "cc"))
                with open(src, "w") as f:
                    f.write('#include "%s"\n#include "%s"\nint sail_header_probe;\n' % (h, h))
                r = subprocess.run([cc, std, "-Wall", "-Wextra", "-Werror", "-I", INCLUDE, "-fsyntax-only", src],
                                   capture_output=True, text=True)
                check(r.returncode == 0, "%s compiles alone (twice, as %s)" % (h, lang), r.stderr.strip()[:400])
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
