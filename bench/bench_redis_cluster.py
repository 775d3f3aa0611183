"""A sail index in a 3-master Redis Cluster against the same items in one
Redis node, in one run: load time (pipelined SAIL.ADD, shard id mod N to
its master, the masters loaded side by side) and recall@10 at each ef (the
shards searched and their top-10 lists merged, as `sail search --index
redis://` does), against numpy's exact top-10.

    /usr/bin/python3 bench/bench_redis_cluster.py [--n 50000] [--dim 128] [--shards 6] [--queries 300]

Needs redis-server and redis-cli (scripts/install-deps.sh) and a built
sail-redis.so ($BUILD, default build). The servers run on loopback ports in
temporary directories and are killed at the end."""
import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import shutil

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
from redis_util import Conn, Server, free_ports  # noqa: E402

K = 10
EFS = (16, 32, 64, 128)


def blob(v):
    return np.asarray(v, "<f4").tobytes()


def load(conn, key_of, x, ids):
    for s in range(0, len(ids), 1000):
        r = conn.pipeline([["SAIL.ADD", key_of(i), i, "VECTOR", blob(x[i])] for i in ids[s:s + 1000]])
        assert all(v == 1 for v in r), r[:3]


def search(conn, key, v, ef):
    return [(int(h[0]), float(h[1])) for h in conn.call("SAIL.SEARCH", key, "VECTOR", blob(v), K, "EF", ef, "NOPAYLOAD")]


def recall(got, truth):
    return np.mean([len(set(g) & set(t)) / K for g, t in zip(got, truth)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--shards", type=int, default=6)
    ap.add_argument("--queries", type=int, default=300)
    a = ap.parse_args()
    module = os.path.abspath(os.path.join(os.environ.get("BUILD", "build"), "sail-redis.so"))
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((64, a.dim)).astype(np.float32)
    x = (centres[rng.integers(0, 64, a.n)] + 0.6 * rng.standard_normal((a.n, a.dim))).astype(np.float32)
    q = (centres[rng.integers(0, 64, a.queries)] + 0.6 * rng.standard_normal((a.queries, a.dim))).astype(np.float32)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    truth = np.argsort(-(qn @ xn.T), axis=1, kind="stable")[:, :K]
    create = ["DIM", a.dim, "METRIC", "cosine", "M", 16, "EF_CONSTRUCTION", 100, "SEED", 1]
    tmp = tempfile.mkdtemp(prefix="sail-bench-redis-")
    servers = []
    try:
        one = Server(module)
        servers.append(one)
        ports = free_ports(3)
        for p in ports:
            d = os.path.join(tmp, "node-%d" % p)
            os.makedirs(d)
            servers.append(Server(module, port=p, dir=d, args=["--cluster-enabled", "yes", "--cluster-config-file",
                                                               "nodes.conf"]))
        subprocess.run(["redis-cli", "--cluster", "create"] + ["127.0.0.1:%d" % p for p in ports] + ["--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        conns = {p: Conn(p) for p in ports}
        while not all(b"cluster_state:ok" in conns[p].call("CLUSTER", "INFO") for p in ports):
            time.sleep(0.2)
        slots = conns[ports[0]].call("CLUSTER", "SLOTS")
        keys = ["{bench:%d}" % i for i in range(a.shards)]
        where = {}
        for k in keys:
            slot = conns[ports[0]].call("CLUSTER", "KEYSLOT", k)
            where[k] = [s[2][1] for s in slots if s[0] <= slot <= s[1]][0]
        c1 = one.conn()
        c1.call("SAIL.CREATE", "bench", *create)
        for k in keys:
            conns[where[k]].call("SAIL.CREATE", k, *create)

        t = time.time()
        load(c1, lambda i: "bench", x, list(range(a.n)))
        one_s = time.time() - t
        t = time.time()
        threads = []
        for m in ports:  # one loader per master, side by side
            ids = [i for i in range(a.n) if where[keys[i % a.shards]] == m]
            th = threading.Thread(target=load, args=(Conn(m), lambda i: keys[i % a.shards], x, ids))
            th.start()
            threads.append(th)
        for th in threads:
            th.join()
        cl_s = time.time() - t
        print("items %d dim %d, %d shards over 3 masters (%s); load: one node %.1f s, cluster %.1f s (%.2fx)"
              % (a.n, a.dim, a.shards, ", ".join("%d on :%d" % (list(where.values()).count(m), m) for m in ports),
                 one_s, cl_s, one_s / cl_s))
        print("%-4s %12s %16s" % ("ef", "one node R@10", "cluster R@10"))
        for ef in EFS:
            got1 = [[h[0] for h in search(c1, "bench", v, ef)] for v in q]
            gotc = []
            for v in q:
                hits = sum((search(conns[where[k]], k, v, ef) for k in keys), [])
                hits.sort(key=lambda h: (-h[1], h[0]))
                gotc.append([h[0] for h in hits[:K]])
            print("%-4d %12.4f %16.4f" % (ef, recall(got1, truth), recall(gotc, truth)))
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
