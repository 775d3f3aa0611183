#!/usr/bin/python3
"""bench_index_peers.py: the vector-index benchmark: sail against FAISS
(IndexFlatIP, IndexHNSWFlat) and hnswlib on the same clustered synthetic
vectors, the same queries and the same ground truth, at the same thread
count. Run with /usr/bin/python3 (Debian's python3-faiss, python3-hnswlib).

    bench_index_peers.py --prepare DIR [--n 100000] [--dim 512]
        writes DIR/x.npy (n x dim), DIR/q.npy (1000 queries, not indexed)
        and DIR/gt.npy (their exact top-10 by inner product, from
        IndexFlatIP); vectors are L2-normalised, so IP = cosine
    bench_index_peers.py --run DIR --threads T [--only exact|hnsw] [--sail BUILD/bench/bench_index]
        FAISS and hnswlib at T threads (exact search, HNSW build, HNSW search
        at several ef), then the sail binary on the same files (with its
        int8 index too at 2 threads); every result is one line
        "lib what key=value ...".
    bench_index_peers.py --plot OUT.png LOG...
        recall@10 vs queries/s from the result lines of the runs (matplotlib).

Data: 1000 cluster centres; each vector is its centre plus a 64-dimensional
random displacement of the cluster's own subspace plus small isotropic
noise, so neighbourhoods have the low intrinsic dimension of real
embeddings rather than that of uniform noise. HNSW parameters for all three
libraries: M=16, efConstruction=40 (FAISS's default; FAISS's HNSW build is
the slowest of the three and sets the size a run can afford)."""
import os
import subprocess
import sys
import time

import numpy as np

M, EFC, K = 16, 40, 10
EFS = [10, 16, 32, 64, 128]


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def prepare(out, n, dim, seed=7):
    import faiss
    rng = np.random.default_rng(seed)
    nc, sub = 1000, 64
    centres = rng.standard_normal((nc, dim)).astype(np.float32)
    bases = (rng.standard_normal((nc, dim, sub)) / np.sqrt(sub)).astype(np.float32) * 1.0

    def draw(m):
        c = rng.integers(0, nc, m)
        z = rng.standard_normal((m, sub)).astype(np.float32)
        v = centres[c] + np.einsum("mds,ms->md", bases[c], z) + 0.1 * rng.standard_normal((m, dim)).astype(np.float32)
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)

    x = np.concatenate([draw(10000) for _ in range(n // 10000)] + ([draw(n % 10000)] if n % 10000 else []))
    q = draw(1000)
    flat = faiss.IndexFlatIP(dim)
    flat.add(x)
    _, gt = flat.search(q, K)
    os.makedirs(out, exist_ok=True)
    np.save(os.path.join(out, "x.npy"), x)
    np.save(os.path.join(out, "q.npy"), q)
    np.save(os.path.join(out, "gt.npy"), gt.astype(np.int64))
    print("prepared %s: x %s, q %s, gt %s" % (out, x.shape, q.shape, gt.shape))


def recall(found, gt):
    return float(np.mean([len(set(found[i]) & set(gt[i])) / K for i in range(len(gt))]))


def timed(fn, min_time=1.0):
    """Seconds per call of fn (repeated until min_time has passed)."""
    fn()
    n, t0 = 0, time.perf_counter()
    while True:
        out = fn()
        n += 1
        t = time.perf_counter() - t0
        if t >= min_time:
            return t / n, out


def run(d, threads, sail, only):
    import faiss
    import hnswlib
    x, q, gt = np.load(os.path.join(d, "x.npy")), np.load(os.path.join(d, "q.npy")), np.load(os.path.join(d, "gt.npy"))
    n, dim = x.shape
    faiss.omp_set_num_threads(threads)
    if only != "hnsw":
        flat = faiss.IndexFlatIP(dim)
        flat.add(x)
        t, (_, I) = timed(lambda: flat.search(q, K))
        print("faiss exact threads=%d qps=%.1f recall=%.4f" % (threads, len(q) / t, recall(I, gt)), flush=True)
        del flat
    if only == "exact":
        if sail:
            sys.stdout.flush()
            subprocess.run([sail, "--data", d, "--threads", str(threads), "--only", "exact"], check=True)
        return

    r0 = rss_mb()
    hf = faiss.IndexHNSWFlat(dim, M, faiss.METRIC_INNER_PRODUCT)
    hf.hnsw.efConstruction = EFC
    t0 = time.perf_counter()
    hf.add(x)
    print("faiss build threads=%d seconds=%.2f memory_mb=%.1f" % (threads, time.perf_counter() - t0, rss_mb() - r0), flush=True)
    for ef in EFS:
        hf.hnsw.efSearch = ef
        t, (_, I) = timed(lambda: hf.search(q, K), 0.5)
        print("faiss hnsw ef=%d threads=%d qps=%.1f recall=%.4f" % (ef, threads, len(q) / t, recall(I, gt)), flush=True)
    del hf

    r0 = rss_mb()
    hl = hnswlib.Index(space="ip", dim=dim)
    hl.init_index(max_elements=n, M=M, ef_construction=EFC, random_seed=100)
    t0 = time.perf_counter()
    hl.add_items(x, np.arange(n), num_threads=threads)
    print("hnswlib build threads=%d seconds=%.2f memory_mb=%.1f" % (threads, time.perf_counter() - t0, rss_mb() - r0), flush=True)
    for ef in EFS:
        hl.set_ef(ef)
        t, (I, _) = timed(lambda: hl.knn_query(q, k=K, num_threads=threads), 0.5)
        print("hnswlib hnsw ef=%d threads=%d qps=%.1f recall=%.4f" % (ef, threads, len(q) / t, recall(I, gt)), flush=True)
    del hl
    if sail:
        sys.stdout.flush()
        subprocess.run([sail, "--data", d, "--threads", str(threads), "--only", "hnsw",
                        "--int8", "1" if threads == 2 else "0"], check=True)


def plot(out, logs, title="20k x 512 clustered"):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    series = {}
    for path in logs:
        for line in open(path):
            f = line.split()
            if len(f) < 3 or f[1] not in ("hnsw", "hnsw-int8"):
                continue
            kv = dict(p.split("=") for p in f[2:] if "=" in p)
            key = "%s %s, %s thread%s" % (f[0], f[1], kv["threads"], "s" if kv["threads"] != "1" else "")
            series.setdefault(key, []).append((float(kv["recall"]), float(kv["qps"])))
    fig, ax = plt.subplots(figsize=(8, 5))
    for key, pts in sorted(series.items()):
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=key,
                linestyle="--" if "1 thread" in key else "-")
    ax.set_xlabel("recall@10")
    ax.set_ylabel("queries / s")
    ax.set_yscale("log")
    ax.set_title("HNSW, %s, M=16 efC=40, ef_search 10..128" % title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print("wrote", out)


def main(a):
    if a[:1] == ["--prepare"]:
        n = int(a[a.index("--n") + 1]) if "--n" in a else 100000
        dim = int(a[a.index("--dim") + 1]) if "--dim" in a else 512
        prepare(a[1], n, dim)
    elif a[:1] == ["--run"]:
        threads = int(a[a.index("--threads") + 1]) if "--threads" in a else 1
        run(a[1], threads, a[a.index("--sail") + 1] if "--sail" in a else None,
            a[a.index("--only") + 1] if "--only" in a else "")
    elif a[:1] == ["--plot"]:
        plot(a[1], a[2:])
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
