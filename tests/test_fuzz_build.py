"""Every libFuzzer harness (tests/fuzz/fuzz_*.c) compiles and links from its
own "// sources:" and "// libs:" lines, and runs on a few fixed inputs,
built with gcc and tests/fuzz/replay_main.c instead of libFuzzer; every
seed program (tests/fuzz/seed_*.c) builds the same way and writes a corpus. The
harnesses are otherwise built only by `make fuzz`, so a library change that
a harness's source list does not follow used to go unseen until the next
fuzzing campaign (fuzz_checkpoint and fuzz_server had both stopped linking)."""
import glob
import os
import subprocess
import tempfile

import tap

ROOT = os.path.join(tap.HERE, "..")


def tagged(path, tag):
    """The words after `// tag:` on the harness's first such line."""
    with open(path) as f:
        for line in f:
            if line.startswith("// %s:" % tag):
                return line.split(":", 1)[1].split()
    return []


def build(harness, out, driver=("tests/fuzz/replay_main.c",)):
    """Compile harness (with driver) into out; returns (ok, compiler output)."""
    inc = ["-std=c11", "-D_GNU_SOURCE", "-Iinclude", "-Isrc", "-Isrc/core", "-O0", "-w"]
    objs = []
    for s in tagged(harness, "sources"):
        if s.endswith(".cc"):  # the libsentencepiece shim: C++, compiled apart
            o = os.path.join(os.path.dirname(out), os.path.basename(s) + ".o")
            if not os.path.exists(o):
                r = subprocess.run(["g++", "-std=c++17", "-D_GNU_SOURCE", "-Iinclude", "-Isrc", "-Isrc/core",
                                    "-O0", "-c", s, "-o", o], cwd=ROOT, capture_output=True, text=True)
                if r.returncode:
                    return False, r.stderr
            objs.append(o)
        else:
            objs.append(s)
    cmd = (["gcc"] + inc + ["-o", out, harness] + list(driver) + objs +
           tagged(harness, "libs") + ["-lm", "-lpthread"])
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    return r.returncode == 0, r.stderr


def main():
    harnesses = sorted(glob.glob(os.path.join(ROOT, "tests", "fuzz", "fuzz_*.c")))
    tap.check(len(harnesses) >= 17, "found the fuzz harnesses", "%d" % len(harnesses))
    with tempfile.TemporaryDirectory() as tmp:
        for h in harnesses:
            name = os.path.basename(h)[:-2]
            out = os.path.join(tmp, name)
            ok, log = build(os.path.relpath(h, ROOT), out)
            if not tap.check(ok, "%s compiles and links from its sources line" % name,
                             "" if ok else " | ".join(log.strip().splitlines()[-3:])):
                continue
            r = subprocess.run([out], cwd=ROOT, capture_output=True, text=True, timeout=120)
            tap.check(r.returncode == 0, "%s runs its fixed inputs" % name,
                      "" if r.returncode == 0 else "exit %d: %s" % (r.returncode, r.stderr.strip()[-200:]))
        for seed in sorted(glob.glob(os.path.join(ROOT, "tests", "fuzz", "seed_*.c"))):
            name = os.path.basename(seed)[:-2]
            out, corpus = os.path.join(tmp, name), os.path.join(tmp, name + ".corpus")
            ok, log = build(os.path.relpath(seed, ROOT), out, driver=())
            if not tap.check(ok, "%s compiles and links from its sources line" % name,
                             "" if ok else " | ".join(log.strip().splitlines()[-3:])):
                continue
            os.mkdir(corpus)
            r = subprocess.run([out, corpus], cwd=ROOT, capture_output=True, text=True, timeout=120)
            ok = r.returncode == 0 and len(os.listdir(corpus)) > 0
            tap.check(ok, "%s writes a corpus" % name,
                      "" if ok else "exit %d: %s" % (r.returncode, r.stderr.strip()[-200:]))
    tap.summary()


if __name__ == "__main__":
    main()
