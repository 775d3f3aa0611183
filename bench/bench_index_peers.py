#!/usr/bin/python3
"""bench_index_peers.py: the vector-index benchmark: sail against FAISS
(IndexFlatIP, IndexHNSWFlat) and hnswlib on the same clustered synthetic
vectors, the same queries and the same ground truth, at the same thread
count. Run with /usr/bin/python3 (Debian's python3-faiss, python3-hnswlib);
sail is called through its public C API (build/libsail.so via ctypes, the
python/sail module's declarations), in the same process as the peers, so
their timings interleave: on a shared machine a slow moment hits every
library's round alike, and each figure is the best of its rounds.

    bench_index_peers.py --prepare DIR [--n 100000] [--dim 512] [--clusters 1000]
        writes DIR/x.npy (n x dim), DIR/q.npy (1000 queries, not indexed)
        and DIR/gt.npy (their exact top-10 by inner product, from
        IndexFlatIP); vectors are L2-normalised, so IP = cosine
    bench_index_peers.py --prepare-model DIR --model M [--n 100000] [--threads T]
        the same three files from the model instead: x = M's image vectors
        of n generated shape scenes (`sail data shapes`), q = its text
        vectors of 1000 captions of other scenes (text -> image queries:
        real cross-modal traffic, not drawn from the base's distribution)
    bench_index_peers.py --exact DIR --threads T [--rounds 5]
        FAISS IndexFlatIP against sail's exact f32 index: ROUNDS rounds, each
        one 1000-query batch of each library in turn
    bench_index_peers.py --build DIR --lib LIB --threads T [--M 16] [--efc 40]
        builds one HNSW (LIB: faiss, hnswlib, sail, sail-int8; M=16,
        efConstruction=40 unless given) over DIR/x.npy at T threads, saves
        it under DIR/idx/LIB and prints its build time; one process per library
    bench_index_peers.py --hnsw DIR --threads T [--rounds 3] [--chunks 10] [--libs a,b] [--efs 16,32,..]
        loads every saved index (each one's memory is the growth of this
        process's resident set while loading it), then for each ef_search
        ROUNDS rounds over the 1000 queries in CHUNKS chunks, every chunk
        searched by each library in turn
    bench_index_peers.py --rss IDXDIR DIR [--threads T] [--ef 64]
        one sail index opened in a fresh process: resident set (anonymous
        and file pages) after opening and after three 1000-query searches
    bench_index_peers.py --plot OUT.png [--title TEXT] LOG...
        recall@10 vs queries/s from the result lines of --hnsw runs

Every result is one line "lib what key=value ...".

Data: 1000 cluster centres (--clusters); each vector is its centre plus a 64-dimensional
random displacement of the cluster's own subspace plus small isotropic
noise, so neighbourhoods have the low intrinsic dimension of real
embeddings rather than that of uniform noise."""
import ctypes
import os
import sys
import time

# The peers' BLAS (OpenBLAS, under FAISS's flat search and numpy) starts one
# thread per core unless told otherwise when it loads, whatever
# faiss.omp_set_num_threads says: hold it to the run's thread count.
if "--threads" in sys.argv:
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = sys.argv[sys.argv.index("--threads") + 1]

import numpy as np  # noqa: E402 (after the thread count is set)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))

M, EFC, K = 16, 40, 10
BATCH = 200000  # vectors per sail_index_add: 400 MiB records, under the log's 1 GiB limit
EFS = [16, 32, 48, 64, 96, 128, 256]
LIBS = ["faiss", "hnswlib", "sail", "sail-int8"]


def arg(a, name, default):
    return type(default)(a[a.index(name) + 1]) if name in a else default


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def prepare(out, n, dim, nc=1000, seed=7):
    import faiss
    rng = np.random.default_rng(seed)
    sub = 64
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


def prepare_model(out, model, n, threads):
    """x: image vectors of n shape scenes; q: text vectors of 1000 captions of
    another seed's scenes; gt as in prepare."""
    import subprocess
    import faiss
    import sail
    tool = os.environ.get("SAIL", os.path.join(HERE, "..", "build", "sail"))
    scenes = os.path.join(out, "shapes")
    for seed, cnt, d in ((21, n, scenes), (22, 2000, scenes + "-q")):
        if not os.path.exists(os.path.join(d, "train.jsonl")):
            subprocess.run([tool, "data", "shapes", "-n", str(cnt), "--seed", str(seed), "--size", "64", "-o", d],
                           check=True, stderr=subprocess.DEVNULL)
    images = sorted(os.path.join(scenes, "images", f) for f in os.listdir(os.path.join(scenes, "images")))
    with open(os.path.join(scenes + "-q", "train.jsonl")) as f:
        import json
        texts = [json.loads(line)["text"] for line in f][:1000]
    m = sail.Model(model, threads=threads)
    t0 = time.time()
    x = np.concatenate([m.embed_image(images[i:i + 512]) for i in range(0, len(images), 512)])
    q = m.embed_text(texts)
    print("embedded %d images and %d texts in %.0f s" % (len(x), len(q), time.time() - t0))
    flat = faiss.IndexFlatIP(x.shape[1])
    flat.add(x)
    _, gt = flat.search(q, K)
    np.save(os.path.join(out, "x.npy"), x)
    np.save(os.path.join(out, "q.npy"), q)
    np.save(os.path.join(out, "gt.npy"), gt.astype(np.int64))
    print("prepared %s from %s: x %s, q %s, gt %s" % (out, model, x.shape, q.shape, gt.shape))


def recall(found, gt):
    return float(np.mean([len(set(found[i]) & set(gt[i])) / K for i in range(len(gt))]))


class Sail:
    """One sail index through the C API (no per-hit Python work in timed calls)."""
    HIT = np.dtype([("id", "<u8"), ("score", "<f4"), ("pad", "<u4"), ("payload", "<u8")])

    def __init__(self, path, threads, create_dim=0, storage="f32"):
        import sail
        self.s, self.L = sail, sail._load()
        o = sail._IndexOptions()
        o.n_threads = threads
        if create_dim:
            o.dim, o.M, o.ef_construction, o.seed, o.create = create_dim, M, EFC, 1, 1
            o.metric = sail._enum(self.L.sail_metric_parse, "metric", "ip")
            o.kind = sail._enum(self.L.sail_index_kind_parse, "kind", "hnsw")
            o.storage = sail._enum(self.L.sail_storage_parse, "storage", storage)
        err = sail._Error()
        self.ix = self.L.sail_index_open(os.fsencode(path), ctypes.byref(o), ctypes.byref(err))
        if not self.ix:
            raise RuntimeError(err.msg.decode())

    def add(self, x):
        # In batches under the log's 1 GiB per-record limit (one fsync each).
        for i in range(0, len(x), BATCH):
            ids = np.arange(i, min(i + BATCH, len(x)), dtype=np.uint64)
            err = self.s._Error()
            if self.L.sail_index_add(self.ix, ids.ctypes.data_as(ctypes.POINTER(ctypes.c_uint64)),
                                     self.s._fptr(np.ascontiguousarray(x[i:i + BATCH])), None, len(ids),
                                     ctypes.byref(err)):
                raise RuntimeError(err.msg.decode())

    def search(self, q, ef=0, exact=False, ids=False):
        o = self.s._SearchOptions(None, ef, int(exact), 1)
        res = ctypes.POINTER(self.s._Results)()
        err = self.s._Error()
        if self.L.sail_index_search(self.ix, self.s._fptr(q), len(q), K, ctypes.byref(o), ctypes.byref(res),
                                    ctypes.byref(err)):
            raise RuntimeError(err.msg.decode())
        out = None
        if ids:
            raw = ctypes.cast(res.contents.hits, ctypes.POINTER(ctypes.c_uint8 * (len(q) * K * self.HIT.itemsize)))
            out = np.frombuffer(raw.contents, self.HIT)["id"].reshape(len(q), K).astype(np.int64)
        self.L.sail_index_results_free(res)
        return out

    def memory_mb(self):
        i = self.s._IndexInfo()
        self.L.sail_index_get_info(self.ix, ctypes.byref(i))
        return i.memory_bytes / 2**20

    def close(self):
        self.L.sail_index_close(self.ix, None)


def interleave(runners, q, rounds, chunks=1):
    """runners: name -> fn(queries). The query set is cut into chunks; in
    every round each chunk goes to every library in turn (the first one
    rotating), so the libraries' timings of a chunk are taken within a
    fraction of a second of each other. Per library: the sum over chunks of
    the best wall-clock time, and likewise of CPU time (all threads of this
    process). On a machine shared with other work the CPU time is the
    steadier figure: waiting for a core is not in it."""
    parts = np.array_split(np.arange(len(q)), chunks)
    qs = [np.ascontiguousarray(q[p]) for p in parts]
    names = list(runners)
    wall = {name: [float("inf")] * chunks for name in names}
    cpu = {name: [float("inf")] * chunks for name in names}
    for r in range(rounds):
        for c in range(chunks):
            k = (r + c) % len(names)
            for name in names[k:] + names[:k]:
                t0, c0 = time.perf_counter(), time.process_time()
                runners[name](qs[c])
                wall[name][c] = min(wall[name][c], time.perf_counter() - t0)
                cpu[name][c] = min(cpu[name][c], time.process_time() - c0)
    return {n: sum(wall[n]) for n in names}, {n: sum(cpu[n]) for n in names}


def exact(d, threads, rounds):
    import faiss
    x, q, gt = np.load(os.path.join(d, "x.npy")), np.load(os.path.join(d, "q.npy")), np.load(os.path.join(d, "gt.npy"))
    faiss.omp_set_num_threads(threads)
    flat = faiss.IndexFlatIP(x.shape[1])
    flat.add(x)
    path = os.path.join(d, "idx", "sail-exact-%d" % os.getpid())
    os.makedirs(os.path.dirname(path), exist_ok=True)
    import sail
    ix = sail.Index(path, create=True, dim=x.shape[1], metric="ip", kind="exact", threads=threads)
    for i in range(0, len(x), BATCH):
        ix.add(np.arange(i, min(i + BATCH, len(x))), x[i:i + BATCH])
    ix.close()
    s = Sail(path, threads)
    rec = {"faiss": recall(flat.search(q, K)[1], gt), "sail": recall(s.search(q, exact=True, ids=True), gt)}
    print("# %s: loadavg %.1f" % (time.strftime("%H:%M"), os.getloadavg()[0]), flush=True)
    best, cpu = interleave({"faiss": lambda b: flat.search(b, K), "sail": lambda b: s.search(b, exact=True)}, q, rounds)
    for lib in best:
        print("%s exact threads=%d qps=%.1f cpu_qps=%.1f recall=%.4f" % (lib, threads, len(q) / best[lib],
              len(q) / cpu[lib], rec[lib]), flush=True)
    print("ratio exact threads=%d sail_time/faiss_time=%.3f cpu=%.3f" % (threads, best["sail"] / best["faiss"],
          cpu["sail"] / cpu["faiss"]), flush=True)
    s.close()
    import shutil
    shutil.rmtree(path)


def build(d, lib, threads):
    x = np.load(os.path.join(d, "x.npy"))
    n, dim = x.shape
    out = os.path.join(d, "idx", lib)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    if lib == "faiss":
        import faiss
        faiss.omp_set_num_threads(threads)
        hf = faiss.IndexHNSWFlat(dim, M, faiss.METRIC_INNER_PRODUCT)
        hf.hnsw.efConstruction = EFC
        t0, c0 = time.perf_counter(), time.process_time()
        hf.add(x)
        t, c = time.perf_counter() - t0, time.process_time() - c0
        faiss.write_index(hf, out)
    elif lib == "hnswlib":
        import hnswlib
        hl = hnswlib.Index(space="ip", dim=dim)
        hl.init_index(max_elements=n, M=M, ef_construction=EFC, random_seed=100)
        t0, c0 = time.perf_counter(), time.process_time()
        hl.add_items(x, np.arange(n), num_threads=threads)
        t, c = time.perf_counter() - t0, time.process_time() - c0
        hl.save_index(out)
    else:
        import shutil
        shutil.rmtree(out, ignore_errors=True)
        s = Sail(out, threads, create_dim=dim, storage="int8" if lib == "sail-int8" else "f32")
        t0, c0 = time.perf_counter(), time.process_time()
        s.add(x)  # graph, log record and its fsync
        t, c = time.perf_counter() - t0, time.process_time() - c0
        s.close()  # the snapshot
    load = os.getloadavg()[0]
    print("%s build threads=%d seconds=%.2f cpu_seconds=%.2f n=%d M=%d efc=%d loadavg=%.1f"
          % (lib, threads, t, c, n, M, EFC, load), flush=True)


def hnsw(d, threads, rounds, libs, chunks):
    x, q, gt = np.load(os.path.join(d, "x.npy")), np.load(os.path.join(d, "q.npy")), np.load(os.path.join(d, "gt.npy"))
    n, dim = x.shape
    del x
    idx, load_mb = {}, {}
    for lib in libs:
        path = os.path.join(d, "idx", lib)
        if not os.path.exists(path):
            print("# %s: no index at %s (run --build first)" % (lib, path))
            continue
        r0 = rss_mb()
        if lib == "faiss":
            import faiss
            faiss.omp_set_num_threads(threads)
            idx[lib] = faiss.read_index(path)
        elif lib == "hnswlib":
            import hnswlib
            hl = hnswlib.Index(space="ip", dim=dim)
            hl.load_index(path, max_elements=n)
            idx[lib] = hl
        else:
            idx[lib] = Sail(path, threads)
        load_mb[lib] = rss_mb() - r0

    def runner(lib, ef, ids=False):
        ix = idx[lib]
        if lib == "faiss":
            ix.hnsw.efSearch = ef
            return lambda b: ix.search(b, K)[1]
        if lib == "hnswlib":
            ix.set_ef(ef)
            return lambda b: ix.knn_query(b, k=K, num_threads=threads)[0]
        return lambda b: ix.search(b, ef, ids=True) if ids else ix.search(b, ef)

    print("# %s: loadavg %.1f" % (time.strftime("%H:%M"), os.getloadavg()[0]), flush=True)
    for ef in EFS:
        rec = {lib: recall(runner(lib, ef, True)(q), gt) for lib in idx}
        best, cpu = interleave({lib: runner(lib, ef) for lib in idx}, q, rounds, chunks)
        for lib in idx:
            print("%s hnsw ef=%d threads=%d qps=%.1f cpu_qps=%.1f recall=%.4f" % (
                lib, ef, threads, len(q) / best[lib], len(q) / cpu[lib], rec[lib]), flush=True)
    for lib, ix in idx.items():
        extra = " counted_mb=%.1f" % ix.memory_mb() if lib.startswith("sail") else ""
        print("%s memory threads=%d load_rss_mb=%.1f%s" % (lib, threads, load_mb[lib], extra), flush=True)
    for lib in libs:
        if lib.startswith("sail") and lib in idx:
            idx[lib].close()


def sail_rss(path, q, threads, ef):
    """Resident set of one sail index opened in this (fresh) process, split
    into anonymous and file-backed pages, after opening and after
    searching, and the peak (VmHWM) over opening and searching."""
    def status():
        v = {}
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(("RssAnon", "RssFile", "VmRSS", "VmHWM")):
                    v[line.split(":")[0]] = int(line.split()[1]) / 1024
        return v
    import sail
    sail._load()  # the library's own pages are not the index's
    a = status()
    s = Sail(path, threads)
    b = status()
    for _ in range(3):
        s.search(q, ef)
    c = status()
    print("sail rss %s anon_mb=%.1f file_mb=%.1f after_search_anon_mb=%.1f after_search_file_mb=%.1f counted_mb=%.1f "
          "peak_mb=%.1f" % (os.path.basename(path), b["RssAnon"] - a["RssAnon"], b["RssFile"] - a["RssFile"],
                            c["RssAnon"] - a["RssAnon"], c["RssFile"] - a["RssFile"], s.memory_mb(),
                            c["VmHWM"] - a["VmRSS"]), flush=True)
    s.close()


def plot(out, logs, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    series = {}
    for path in logs:
        for line in open(path):
            f = line.split()
            if len(f) < 3 or f[1] != "hnsw":
                continue
            kv = dict(p.split("=") for p in f[2:] if "=" in p)
            key = "%s, %s thread%s" % (f[0], kv["threads"], "s" if kv["threads"] != "1" else "")
            series.setdefault(key, []).append((int(kv["ef"]), float(kv["recall"]), float(kv["qps"])))
    fig, ax = plt.subplots(figsize=(8, 5))
    colours = {"faiss": "tab:blue", "hnswlib": "tab:orange", "sail": "tab:green", "sail-int8": "tab:olive"}
    for key, pts in sorted(series.items()):
        pts.sort()  # by ef: the curve a user walks by raising ef_search
        ax.plot([p[1] for p in pts], [p[2] for p in pts], marker="o", label=key, color=colours.get(key.split(",")[0]),
                linestyle="--" if "1 thread" in key else "-")
    ax.axvline(0.95, color="grey", linewidth=0.8, linestyle=":")
    rec = [p[1] for pts in series.values() for p in pts]
    ax.set_xlim(left=max(0.0, min([r for r in rec if r >= 0.85] or rec) - 0.01))  # zoom on the useful end
    ax.set_xlabel("recall@10")
    ax.set_ylabel("queries / s")
    ax.set_yscale("log")
    ax.set_title("HNSW, %s, M=%d efC=%d" % (title, M, EFC))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print("wrote", out)


def main(a):
    global M, EFC
    M, EFC = arg(a, "--M", M), arg(a, "--efc", EFC)
    if a[:1] == ["--prepare"]:
        prepare(a[1], arg(a, "--n", 100000), arg(a, "--dim", 512), arg(a, "--clusters", 1000))
    elif a[:1] == ["--prepare-model"]:
        prepare_model(a[1], arg(a, "--model", os.path.join(HERE, "..", "models", "sail-tiny.gguf")),
                      arg(a, "--n", 100000), arg(a, "--threads", 0))
    elif a[:1] == ["--exact"]:
        exact(a[1], arg(a, "--threads", 1), arg(a, "--rounds", 5))
    elif a[:1] == ["--build"]:
        build(a[1], arg(a, "--lib", "sail"), arg(a, "--threads", 1))
    elif a[:1] == ["--hnsw"]:
        libs = arg(a, "--libs", ",".join(LIBS)).split(",")
        EFS[:] = [int(e) for e in arg(a, "--efs", ",".join(map(str, EFS))).split(",")]
        hnsw(a[1], arg(a, "--threads", 1), arg(a, "--rounds", 3), libs, arg(a, "--chunks", 10))
    elif a[:1] == ["--rss"]:
        sail_rss(a[1], np.load(os.path.join(a[2], "q.npy")), arg(a, "--threads", 1), arg(a, "--ef", 64))
    elif a[:1] == ["--plot"]:
        title = arg(a, "--title", "100k x 512 clustered")
        logs = [p for i, p in enumerate(a[2:]) if p != "--title" and (i == 0 or a[2:][i - 1] != "--title")]
        plot(a[1], logs, title)
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
