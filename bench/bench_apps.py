"""make bench: the embedding apps beside numpy (and FAISS k-means when
python3-faiss is installed), one thread each, same data, same run.

  k-means: `sail cluster --vectors` (k-means++ then Lloyd, fixed iterations)
           vs numpy Lloyd from sail's own seeding rows (BLAS matmul distances)
           and faiss.Kmeans (its own random seeding, all rows, no subsampling),
           same iteration count. sail's time also holds greedy k-means++
           seeding and the silhouette (2000 sampled rows), which the peers skip
  PCA:     `sail reduce fit` vs numpy covariance + numpy.linalg.eigh
Times are CPU seconds (user + system; the best of 3), not wall time, so that
other load on a shared machine does not skew the ratio; sail's include its
process start, .npy read and JSON write.
Then threads: wall time (best of 3) of k-means (k=128) and PCA on 100k rows at
--threads 1 and 2, beside faiss.Kmeans on 1 and 2 OpenMP threads.

  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/bench_apps.py [--sail build/sail]
"""
import argparse
import json
import os
import resource
import subprocess
import tempfile
import time

import numpy as np


def cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def best_of(fn, reps=3):
    t = []
    for _ in range(reps):
        t0 = cpu()
        fn()
        t.append(cpu() - t0)
    return min(t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sail", default="build/sail")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    n, d, k, iters = 20000, 256, 32, 10
    x = rng.normal(size=(n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    with tempfile.TemporaryDirectory() as tmp:
        p = os.path.join(tmp, "x.npy")
        np.save(p, x)
        out = os.path.join(tmp, "a.json")
        cmd = [a.sail, "cluster", "--vectors", p, "--k", str(k), "--max-iter", str(iters), "-o", out, "--threads", "1"]
        ts = best_of(lambda: subprocess.run(cmd, check=True, capture_output=True))
        seeds = json.load(open(out))["init_rows"]

        def lloyd():
            c = x[seeds].copy()
            xn = (x * x).sum(1)
            for _ in range(iters):
                dist = xn[:, None] - 2 * x @ c.T + (c * c).sum(1)[None]
                a_ = dist.argmin(1)
                c = np.stack([x[a_ == j].mean(0) if (a_ == j).any() else c[j] for j in range(k)])
        tn = best_of(lloyd)
        print("k-means %dx%d k=%d %d iters   sail %.3f s  numpy %.3f s  numpy/sail %.2fx" % (n, d, k, iters, ts, tn, tn / ts))
        try:
            import faiss
            faiss.omp_set_num_threads(1)
            tf = best_of(lambda: faiss.Kmeans(d, k, niter=iters, seed=1, max_points_per_centroid=n).train(x))
            print("k-means %dx%d k=%d %d iters   sail %.3f s  faiss %.3f s  faiss/sail %.2fx" % (n, d, k, iters, ts, tf, tf / ts))
        except ImportError:
            print("faiss absent: k-means vs FAISS skipped")
        pca = os.path.join(tmp, "p.bin")
        cmd = [a.sail, "reduce", "fit", "--vectors", p, "--dim", "64", "-o", pca, "--threads", "1"]
        ts = best_of(lambda: subprocess.run(cmd, check=True, capture_output=True))
        tn = best_of(lambda: np.linalg.eigh(np.cov(x, rowvar=False)))
        print("PCA fit %dx%d -> 64            sail %.3f s  numpy %.3f s  numpy/sail %.2fx" % (n, d, ts, tn, tn / ts))
        threads(a.sail, tmp, rng, d, 128, iters)


def wall_best(fn, reps=3):
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return min(t)


def threads(tool, tmp, rng, d, k, iters, n=100000):
    x = rng.normal(size=(n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    p = os.path.join(tmp, "big.npy")
    np.save(p, x)
    jobs = {"k-means k=%d %d iters" % (k, iters): ["cluster", "--vectors", p, "--k", str(k), "--max-iter", str(iters),
                                                  "-o", os.path.join(tmp, "b.json")],
            "PCA fit -> 64": ["reduce", "fit", "--vectors", p, "--dim", "64", "-o", os.path.join(tmp, "b.bin")]}
    for name, args in jobs.items():
        w = [wall_best(lambda: subprocess.run([tool] + args + ["--threads", str(t)], check=True, capture_output=True))
             for t in (1, 2)]
        print("%-24s %dx%d  sail wall 1 thread %.3f s, 2 threads %.3f s: %.2fx" % (name, n, d, w[0], w[1], w[0] / w[1]))
    try:
        import faiss
    except ImportError:
        return
    w = []
    for t in (1, 2):
        faiss.omp_set_num_threads(t)
        w.append(wall_best(lambda: faiss.Kmeans(d, k, niter=iters, seed=1, max_points_per_centroid=n).train(x)))
    print("%-24s %dx%d  faiss wall 1 thread %.3f s, 2 threads %.3f s: %.2fx" % ("k-means (FAISS)", n, d, w[0], w[1],
                                                                                 w[0] / w[1]))


if __name__ == "__main__":
    main()
