#!/usr/bin/python3
"""test_install.py (asan: skip, it installs the plain build's binaries):
sail installs like a library. `make install` into a
temporary prefix; a C program that knows sail only through
`pkg-config --cflags --libs sail` embeds a text with the installed model and
gets the installed CLI's vector, and one through the apps' header
(sail_apps.h) fits a PCA numpy agrees with; `pip install ./python` into a fresh venv
(offline, system site packages for numpy) and `import sail` from elsewhere
gets the same vector, through the old calls and through encode()."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

import tap
from tap import BUILD, check

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXTS = ["黑色高帮运动鞋", "a red dress"]

PROGRAM = r"""
#include <sail.h>
#include <stdio.h>
int main(int argc, char **argv) {
    sail_error e = {0};
    sail_model *m = sail_model_load(argv[1], NULL, &e);
    if (!m) { fprintf(stderr, "%s\n", e.msg); return 1; }
    int d = sail_model_dim(m);
    float v[4096];
    const char *texts[2] = {argv[2], argv[3]};
    if (sail_embed_texts(m, texts, 2, 0, v, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
    for (int i = 0; i < 2 * d; i++) printf("%.9g\n", v[i]);
    sail_model_free(m);
    return 0;
}
"""

# The apps' public header: PCA of an n x d matrix read from stdin; prints
# the top variance (numpy's largest covariance eigenvalue).
APPS_PROGRAM = r"""
#include <sail_apps.h>
#include <stdio.h>
int main(void) {
    int n, d;
    if (scanf("%d %d", &n, &d) != 2 || n < 2 || d < 1 || n * d > 4096) return 2;
    float x[4096];
    for (int i = 0; i < n * d; i++)
        if (scanf("%f", &x[i]) != 1) return 2;
    sail_error e = {0};
    sail_pool *pool = sail_pool_new(2);
    sail_pca p = {0};
    sail_status s = sail_pca_fit(pool, x, n, d, 1, &p, &e);
    sail_pool_free(pool);
    if (s) { fprintf(stderr, "%s\n", e.msg); return 1; }
    printf("%.9g\n", p.variance[0]);
    sail_pca_free(&p);
    return 0;
}
"""


def cli_vectors(sail_bin, model):
    r = tap.run([sail_bin, "embed", "--model", model, "--text", TEXTS[0], "--text", TEXTS[1]])
    if r.returncode:
        return None
    return np.array([row["embedding"] for row in json.loads(r.stdout)["data"]], np.float32)


def main():
    if not shutil.which("pkg-config"):
        print("skip - pkg-config is missing (run scripts/install-deps.sh)")
        return tap.summary()
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "prefix")
        r = tap.run(["make", "-C", ROOT, "-o", "all", "install", "BUILD=" + os.path.abspath(BUILD), "PREFIX=" + prefix])
        files = ["bin/sail", "lib/libsail.so", "lib/libsail.a", "lib/sail-redis.so", "include/sail.h",
                 "include/sail_apps.h", "include/sail_train.h", "lib/pkgconfig/sail.pc", "share/sail/models/sail-tiny.gguf"]
        check(r.returncode == 0 and all(os.path.exists(os.path.join(prefix, f)) for f in files),
              "make install PREFIX=... installs the CLI, both libraries, the Redis module, the public headers, sail.pc "
              "and the model")
        model = os.path.join(prefix, "share/sail/models/sail-tiny.gguf")
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "lib/pkgconfig"))
        env.pop("SAIL_LIB", None)
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "sail"], capture_output=True, env=env)
        check(flags.returncode == 0 and b"-lsail" in flags.stdout, "pkg-config finds sail",
              flags.stderr.decode(errors="replace"))
        src, exe = os.path.join(tmp, "prog.c"), os.path.join(tmp, "prog")
        with open(src, "w") as f:
            f.write(PROGRAM)
        cc = subprocess.run(["cc", "-std=c11", "-o", exe, src] + flags.stdout.decode().split(), capture_output=True)
        check(cc.returncode == 0, "a C program builds with only `pkg-config --cflags --libs sail`",
              cc.stderr.decode(errors="replace")[-500:])
        ref = cli_vectors(os.path.join(prefix, "bin/sail"), model)
        run_env = dict(env, LD_LIBRARY_PATH=os.path.join(prefix, "lib"))
        out = subprocess.run([exe, model] + TEXTS, capture_output=True, env=run_env, cwd=tmp) \
            if cc.returncode == 0 else None
        got = np.array([float(x) for x in out.stdout.split()], np.float32).reshape(2, -1) \
            if out is not None and out.returncode == 0 else None
        check(ref is not None and got is not None and got.shape == ref.shape and np.abs(got - ref).max() < 1e-6,
              "it embeds two texts with the installed library and model: the installed CLI's vectors")
        src, exe = os.path.join(tmp, "apps.c"), os.path.join(tmp, "apps")
        with open(src, "w") as f:
            f.write(APPS_PROGRAM)
        cc = subprocess.run(["cc", "-std=c11", "-o", exe, src] + flags.stdout.decode().split(), capture_output=True)
        x = np.random.default_rng(5).normal(size=(40, 6)).astype(np.float32) * np.arange(1, 7, dtype=np.float32)
        out = subprocess.run([exe], input=("40 6 " + " ".join("%.9g" % v for v in x.ravel())).encode(),
                             capture_output=True, env=run_env) if cc.returncode == 0 else None
        want = np.linalg.eigvalsh(np.cov(x.astype(np.float64).T))[-1]
        got = float(out.stdout) if out is not None and out.returncode == 0 else None
        check(got is not None and abs(got - want) <= 1e-4 * want,
              "a C program on sail_apps.h alone fits a PCA: top variance %s, numpy %.6g" % (got, want),
              (cc.stderr + (out.stderr if out is not None else b"")).decode(errors="replace")[-500:])

        venv = os.path.join(tmp, "venv")
        r = tap.run([sys.executable, "-m", "venv", "--system-site-packages", venv])
        pip = tap.run([os.path.join(venv, "bin", "pip"), "install", "--no-index", "--no-build-isolation",
                       os.path.join(ROOT, "python")]) if r.returncode == 0 else r
        check(pip.returncode == 0, "pip install ./python works offline into a fresh venv",
              pip.stderr.decode(errors="replace")[-500:])
        code = ("import sail, numpy as np, json, sys; m = sail.Model(sys.argv[1]); "
                "a = m.embed_text(sys.argv[2:]); b = m.encode(sys.argv[2:], batch_size=1); c = m.encode(sys.argv[2]); "
                "print(json.dumps({'file': sail.__file__, 'a': a.tolist(), 'b': b.tolist(), 'c': c.tolist()}))")
        py = subprocess.run([os.path.join(venv, "bin", "python"), "-c", code, model] + TEXTS, capture_output=True,
                            cwd=tmp, env={k: v for k, v in os.environ.items() if k not in ("SAIL_LIB", "PYTHONPATH")})
        doc = json.loads(py.stdout) if py.returncode == 0 else {}
        ok = bool(doc) and doc["file"].startswith(venv) and ref is not None
        ok = ok and np.abs(np.array(doc["a"]) - ref).max() < 1e-6 and np.abs(np.array(doc["b"]) - ref).max() < 1e-6
        ok = ok and np.abs(np.array(doc["c"]) - ref[0]).max() < 1e-6
        check(ok, "import sail from the venv (elsewhere) embeds the same vectors with embed_text and encode",
              py.stderr.decode(errors="replace")[-500:])
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
