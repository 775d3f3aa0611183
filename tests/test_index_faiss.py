"""Interchange of the vector index with NumPy and FAISS, through the CLI:
import .npy/.fvecs, export .npy/.fvecs (compared with the input), and export
.faiss files that Debian's python3-faiss loads: IndexFlatIP/IndexFlatL2
(same vectors, same search results as a NumPy brute force) and
IndexHNSWFlat (sail's graph, searched by FAISS with high recall)."""
import os
import subprocess
import sys
import tempfile

import numpy as np

import tap
from tap import SAIL, check, sail


def clustered(rng, n, d, c):
    centres = rng.standard_normal((c, d)).astype(np.float32)
    return (centres[rng.integers(0, c, n)] + 0.4 * rng.standard_normal((n, d))).astype(np.float32)


def write_fvecs(path, x):
    with open(path, "wb") as f:
        for row in x:
            np.array([x.shape[1]], dtype=np.int32).tofile(f)
            row.astype(np.float32).tofile(f)


def read_fvecs(path):
    a = np.fromfile(path, dtype=np.int32)
    d = a[0]
    return a.reshape(-1, d + 1)[:, 1:].copy().view(np.float32)


def main():
    try:
        import faiss
    except ImportError:
        print("skip - python3-faiss is not installed (scripts/install-deps.sh)")
        return 0
    rng = np.random.default_rng(3)
    d = 48
    x = clustered(rng, 2000, d, 25)
    q = clustered(rng, 50, d, 25)
    with tempfile.TemporaryDirectory() as tmp:
        npy = os.path.join(tmp, "x.npy")
        np.save(npy, x)

        # exact, inner product: import, export as .npy / .fvecs / .faiss
        ix = os.path.join(tmp, "flat")
        r = sail("index", "import", "--index", ix, "--kind", "exact", "--metric", "ip", "--first-id", 100, npy)
        check(r.returncode == 0, "import .npy into an exact IP index")
        sail("index", "export", "--index", ix, os.path.join(tmp, "out.npy"))
        y = np.load(os.path.join(tmp, "out.npy"))
        ids = np.load(os.path.join(tmp, "out.ids.npy"))
        check(y.dtype == np.float32 and np.array_equal(y, x), "export .npy gives back the vectors bit for bit")
        check(ids.dtype == np.uint64 and np.array_equal(ids, np.arange(100, 2100)), "ids.npy holds ids 100..2099")
        sail("index", "export", "--index", ix, os.path.join(tmp, "out.fvecs"))
        check(np.array_equal(read_fvecs(os.path.join(tmp, "out.fvecs")), x), "export .fvecs gives back the vectors")
        sail("index", "export", "--index", ix, os.path.join(tmp, "flat.faiss"))
        fi = faiss.read_index(os.path.join(tmp, "flat.faiss"))
        check(isinstance(fi, faiss.IndexFlatIP) or type(fi).__name__ == "IndexFlat" and fi.metric_type == faiss.METRIC_INNER_PRODUCT,
              "faiss.read_index loads an IndexFlatIP (%s)" % type(fi).__name__)
        check(fi.ntotal == 2000 and fi.d == d and np.array_equal(fi.reconstruct_n(0, 2000), x),
              "the FAISS index holds the same 2000 vectors")
        D, I = fi.search(q, 10)
        ref = np.argsort(-(q @ x.T), axis=1, kind="stable")[:, :10]
        check(np.array_equal(I, ref), "FAISS search on the exported index equals a NumPy brute force")

        # .fvecs import, L2 exact -> IndexFlatL2
        fv = os.path.join(tmp, "x.fvecs")
        write_fvecs(fv, x[:300])
        ix2 = os.path.join(tmp, "l2")
        r = sail("index", "import", "--index", ix2, "--kind", "exact", "--metric", "l2", fv)
        check(r.returncode == 0, "import .fvecs into an exact L2 index")
        sail("index", "export", "--index", ix2, os.path.join(tmp, "l2.faiss"))
        fl = faiss.read_index(os.path.join(tmp, "l2.faiss"))
        check(fl.metric_type == faiss.METRIC_L2 and fl.ntotal == 300 and np.array_equal(fl.reconstruct_n(0, 300), x[:300]),
              "an L2 index exports as IndexFlatL2 with the same vectors")

        # HNSW (L2 and cosine): FAISS searches sail's own graph
        for metric in ("l2", "cosine"):
            ixh = os.path.join(tmp, "hnsw-" + metric)
            r = sail("index", "import", "--index", ixh, "--kind", "hnsw", "--metric", metric, "--M", 12,
                     "--ef-construction", 80, "--seed", 5, npy)
            check(r.returncode == 0, "import into an HNSW %s index" % metric)
            out = os.path.join(tmp, "hnsw-%s.faiss" % metric)
            sail("index", "export", "--index", ixh, out)
            try:
                fh = faiss.read_index(out)
            except Exception as e:  # a malformed file raises
                print("# read_index: %s" % e)
                fh = None
            check(fh is not None and type(fh).__name__ == "IndexHNSWFlat" and fh.ntotal == 2000,
                  "faiss.read_index loads an IndexHNSWFlat (%s) from the %s index" % (type(fh).__name__, metric))
            if fh is None:
                continue
            xs = x / np.linalg.norm(x, axis=1, keepdims=True) if metric == "cosine" else x
            qs = q / np.linalg.norm(q, axis=1, keepdims=True) if metric == "cosine" else q
            levels = faiss.vector_to_array(fh.hnsw.levels)
            check(np.allclose(fh.storage.reconstruct_n(0, 2000), xs, atol=1e-6) and levels.min() >= 1 and
                  fh.hnsw.max_level == levels.max() - 1 and levels[fh.hnsw.entry_point] == levels.max(),
                  "%s: vectors, levels and entry point are consistent" % metric)
            if metric == "l2":
                dist = ((qs[:, None, :] - xs[None, :, :]) ** 2).sum(-1)
                ref = np.argsort(dist, axis=1, kind="stable")[:, :10]
            else:
                ref = np.argsort(-(qs @ xs.T), axis=1, kind="stable")[:, :10]
            def recall(index):
                index.hnsw.efSearch = 128
                I = index.search(qs, 10)[1]
                return np.mean([len(set(I[i]) & set(ref[i])) / 10 for i in range(len(q))])
            # FAISS's own graph with the same M and efConstruction, for scale
            own = faiss.IndexHNSWFlat(d, 12, faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT)
            own.hnsw.efConstruction = 80
            own.add(xs)
            rec, rec_own = recall(fh), recall(own)
            check(rec >= 0.95 and rec >= rec_own - 0.03,
                  "%s: FAISS searching sail's HNSW graph (efSearch 128): recall@10 %.3f (FAISS's own graph %.3f)"
                  % (metric, rec, rec_own))

        # errors: wrong dimension, unknown extension, HNSW export with tombstones
        r = sail("index", "import", "--index", ix, fv)
        check(r.returncode == 0, "import of more vectors of the same dimension works")
        np.save(os.path.join(tmp, "bad.npy"), x[:, :10])
        r = subprocess.run([SAIL, "index", "import", "--index", ix, os.path.join(tmp, "bad.npy")], capture_output=True)
        check(r.returncode == 1 and b"10-dimensional" in r.stderr, "a wrong dimension is a clear error")
        r = subprocess.run([SAIL, "index", "export", "--index", ix, os.path.join(tmp, "x.bin")], capture_output=True)
        check(r.returncode == 1 and b".faiss" in r.stderr, "an unknown export extension is a clear error")
        ixh = os.path.join(tmp, "hnsw-l2")
        subprocess.run([SAIL, "index", "delete", "--index", ixh, "0", "1"], capture_output=True)
        r = subprocess.run([SAIL, "index", "export", "--index", ixh, os.path.join(tmp, "t.faiss")], capture_output=True)
        check(r.returncode == 1 and b"compact" in r.stderr, "exporting an HNSW graph with tombstones asks for compaction")
        sail("index", "compact", "--index", ixh)
        r = sail("index", "export", "--index", ixh, os.path.join(tmp, "t.faiss"))
        check(r.returncode == 0 and faiss.read_index(os.path.join(tmp, "t.faiss")).ntotal == 1998,
              "after compaction the graph exports (1998 items)")
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
