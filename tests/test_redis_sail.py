"""sail on Redis (docs/REDIS.md), in real redis-server processes on
loopback, each in a temporary directory and killed at the end. The module
itself on one node is test_redis.py's.
asan: skip (Debian's redis-server is not built with ASan, so it cannot load
an ASan-built module).

Cluster: 3 masters and 3 replicas (redis-cli --cluster create); shard keys
{name:i} land on every master; a search fanned out to the shards and
merged equals an exact search over all items; a replica answers the
reading commands after READONLY and redirects writes (MOVED) to its master;
`sail index semantic-ids` through one node lists exactly the ids added,
shard by shard; a master killed with
SIGKILL fails over and every write acknowledged by WAIT 1 is there
afterwards, vector for vector.

sail search, sail index add and sail serve on redis://host:port/name (the
library's client behind sail_index_open): against the same commands on an
index directory, a local index of the same vectors and numpy; sail index
import without --first-id numbers after the largest id of the shards; over the
cluster's shards too; Redis killed under sail serve is a 503, not a hang,
and the server serves again when it is back. Skipped with the reason when
redis-server is not installed (Debian: redis-server, redis-tools)."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np

import tap
from tap import BUILD, HERE, check
from redis_util import Conn, D, K, MODULE, Server, blob, data, free_ports, hits, run
from server_util import Server as Serve, data_url, make_fixtures  # `sail serve` over HTTP

sys.path.insert(0, os.path.join(HERE, "..", "python"))
os.environ.setdefault("SAIL_LIB", os.path.abspath(os.path.join(BUILD, "libsail.so")))
import sail  # noqa: E402

MODEL = os.path.join(HERE, "..", "models", "sail-tiny.gguf")
TEXTS = ["red dress", "blue dress", "black sneakers", "a cat on the mat", "a dog in the park", "wooden table",
         "river at night", "red sneakers", "a cat asleep", "green tea", "city at night", "a blue car",
         "mountain lake", "two dogs", "a red car", "snow on the river", "white sneakers", "tea on a table"]


def embed(texts, dim=None):
    r = tap.sail("embed", "--model", MODEL, "--separate", *(["--dim", dim] if dim else []),
                 *sum([["--text", t] for t in texts], []))
    return np.array([d["embedding"] for d in json.loads(r.stdout)["data"]], np.float32) if r.returncode == 0 else None


def search_cli(index, query, *extra):
    r = tap.sail("search", "--index", index, "--model", MODEL, query, "--json", *extra, ok=False)
    return r.returncode, (json.loads(r.stdout)["results"] if r.returncode == 0 else r.stderr.decode())


def write_items(tmp):
    path = os.path.join(tmp, "items.jsonl")
    with open(path, "w") as f:
        for i, t in enumerate(TEXTS):
            f.write(json.dumps({"id": 1000 + i, "text": t, "n": i % 2}) + "\n")
    return path


def cli_search(srv, tmp):
    """`sail index add` and `sail search` on redis://host:port/name (3 shard
    keys) against the same commands on an index directory."""
    items = write_items(tmp)
    url, d = "redis://127.0.0.1:%d/cli" % srv.port, os.path.join(tmp, "cli.idx")
    add = ["--model", MODEL, "--kind", "exact", "--metric", "cosine", items]
    r1 = tap.sail("index", "add", "--index", url, "--shards", 3, *add)
    r2 = tap.sail("index", "add", "--index", d, *add)
    c = srv.conn()
    counts = [c.call("SAIL.INFO", "{cli:%d}" % s)[17] for s in range(3)]
    want = [sum(1 for i in range(len(TEXTS)) if (1000 + i) % 3 == s) for s in range(3)]
    check(r1.returncode == 0 and r2.returncode == 0 and counts == want,
          "sail index add --index redis://.../cli --shards 3 makes the 3 shard keys and puts id on shard id mod 3",
          "%s %s" % (counts, want))
    same = []
    for q, extra in [("red dress", ["-k", 5]), ("a sleeping cat", ["-k", 7, "--filter", "n=1"]),
                     ("night", ["-k", 40])]:
        a, b = search_cli(url, q, *extra), search_cli(d, q, *extra)
        same.append(a[0] == 0 and a == b and len(a[1]) == min(extra[1], len(TEXTS)))
    check(all(same), "sail search --index redis://.../cli (3 shards, merged) == sail search --index DIR (k 5, "
          "a filter, k past the item count)", str(same))
    r3 = tap.sail("index", "add", "--index", url, "--dim", 64, *add, ok=False)
    rc, err = search_cli("redis://127.0.0.1:%d/nothing" % srv.port, "red")
    rc2, err2 = search_cli("redis://127.0.0.1:1/cli", "red")
    rc3, err3 = search_cli(url, "red", "--filter", "oops")
    check(rc == 1 and "no sail index" in err and rc2 == 1 and "cannot connect" in err2 and rc3 == 2 and
          r3.returncode == 2, "a missing index, a refused connection, a bad filter and an add of another dim are "
          "errors", "%s | %s | %s | %s" % (err, err2, err3, r3.stderr.decode()[-100:]))
    # import without --first-id continues after the largest id over the 3 shards
    dim = c.call("SAIL.INFO", "{cli:0}")[1]
    v = np.random.default_rng(30).standard_normal((3, dim)).astype(np.float32)
    npy = os.path.join(tmp, "more.npy")
    np.save(npy, v)
    r4 = tap.sail("index", "import", "--index", url, npy, ok=False)
    got = [c.call("SAIL.GET", "{cli:%d}" % (i % 3), i) for i in (1018, 1019, 1020)]
    counts = [c.call("SAIL.INFO", "{cli:%d}" % s)[17] for s in range(3)]
    unit = v / np.linalg.norm(v, axis=1, keepdims=True)  # a cosine index keeps vectors normalised
    check(r4.returncode == 0 and b"imported 3 vectors as ids 1018..1020" in r4.stderr and sum(counts) == 21 and
          all(isinstance(g, list) and np.abs(np.frombuffer(g[0], "<f4") - u).max() <= 1e-6 for g, u in zip(got, unit)),
          "sail index import --index redis://.../cli (no --first-id) numbers after the largest id of the 3 shards "
          "(1017): ids 1018..1020 on their shards, the 18 items kept", r4.stderr.decode()[-200:])
    r5 = tap.sail("index", "semantic-ids", "--index", url, "--levels", 1, "--codebook", 4, ok=False)
    listed = [it["id"] for it in json.loads(r5.stdout)["items"]] if r5.returncode == 0 else r5.stderr.decode()
    check(listed == [i for s in range(3) for i in range(1000, 1021) if i % 3 == s],
          "sail index semantic-ids on redis://.../cli codes every item, listed shard by shard in insertion order",
          str(listed)[-200:])
    c.close()


# ------------------------------------------------- sail serve redis:// --

# Scores of one query embedded by two processes (the server's batcher, `sail
# search`): their vectors agree to 1e-6 per component (test_server.py's
# TOL), so a cosine score to 1e-5, an l2 one to 1e-5 of its size.
SCORE_TOL = 1e-5


def scores_close(a, b):
    return len(a) == len(b) and all(abs(x - y) <= SCORE_TOL * max(1.0, abs(y)) for x, y in zip(a, b))


def serve(index, *args):
    return Serve(MODEL, "--index", index, "--batch-wait-ms", 2, *args)


def http_search(s, body):
    st, doc, _, _ = s.request("POST", "/v1/search", body)
    return st, doc["data"] if st == 200 else doc


def serve_redis(srv, tmp):
    """sail serve --index redis://.../web: items added over HTTP land in the
    module's key; /v1/search answers as `sail search --index redis://`, as a
    local index (the Python binding over libsail) holding the same vectors,
    and as brute force (numpy) over them."""
    url = "redis://127.0.0.1:%d/web" % srv.port
    s = serve(url)  # no key yet: made with the model's dim
    c = srv.conn()
    try:
        items = [{"id": 2000 + i, "text": t, "payload": {"n": i % 2}} for i, t in enumerate(TEXTS)]
        st, doc, _, _ = s.request("POST", "/v1/items", {"items": items})
        ids = [d["id"] for d in doc["data"]] if st == 200 else doc
        count = c.call("SAIL.INFO", "web")[17]
        check(ids == [it["id"] for it in items] and count == len(items),
              "POST /v1/items to sail serve --index redis://.../web: %d items, in the module's key" % count, str(ids))
        got = c.pipeline([["SAIL.GET", "web", it["id"]] for it in items])
        x = np.array([np.frombuffer(g[0], "<f4") for g in got])
        local = sail.Index(os.path.join(tmp, "web-local"), create=True, dim=x.shape[1], metric="cosine",
                           kind="exact", threads=1)
        local.add(np.array([it["id"] for it in items], np.uint64), x, [json.loads(g[1]) for g in got])
        queries = [("red dress", 5, None), ("a sleeping cat", 7, {"n": 1}), ("night", 40, None)]
        qv = embed([q for q, _, _ in queries])
        for (q, k, flt), v in zip(queries, qv if qv is not None else [None] * 3):
            st, web = http_search(s, {"text": q, "k": k, **({"filter": flt} if flt else {})})
            rc, cli = search_cli(url, q, "-k", k, *(["--filter", "n=1"] if flt else []))
            loc = local.search(v, k, **({"filter": "n=1"} if flt else {}))[0]
            keep = [i for i, it in enumerate(items) if not flt or it["payload"]["n"] == 1]
            sc = x[keep] @ (v / np.linalg.norm(v))
            order = np.argsort(-sc, kind="stable")[:k]
            ref_ids, ref_sc = [items[keep[j]]["id"] for j in order], [float(sc[j]) for j in order]
            ok = st == 200 and rc == 0 and [h["id"] for h in web] == [h["id"] for h in cli] == \
                [h.id for h in loc] == ref_ids
            ok = ok and scores_close([h["score"] for h in web], [h["score"] for h in cli]) and \
                scores_close([h["score"] for h in web], [h.score for h in loc]) and \
                scores_close([h["score"] for h in web], ref_sc)
            ok = ok and all(h["payload"]["text"] == TEXTS[h["id"] - 2000] for h in web)
            check(ok, "POST /v1/search %r k %d%s over redis://: the ids and scores of sail search --index redis://, of "
                  "a local index of the same vectors and of numpy" % (q, k, " filter n=1" if flt else ""),
                  str(web)[:200] if st != 200 else str([(h["id"], h["score"]) for h in web][:3]))
        # the library's own client (the Python binding over sail_index_open) against the local index, the
        # same query vectors: scores to 1e-6 (the local index normalises the stored vectors once more)
        remote = sail.Index(url)
        same = qv is not None
        for v, k in zip(qv if same else [], (5, 7, 40)):
            a, b = remote.search(v, k)[0], local.search(v, k)[0]
            same &= [(h.id, h.payload) for h in a] == [(h.id, h.payload) for h in b] and \
                max(abs(float(x.score) - float(y.score)) for x, y in zip(a, b)) <= 1e-6
        info = remote.info
        check(same and info["remote"] == 1 and info["count"] == len(items) and info["log_bytes"] == 0,
              "sail.Index(redis://...) (sail_index_open's client): search == the local index's (ids, payloads, "
              "scores to 1e-6); info counts the items, remote 1", str(info))
        remote.close()
        local.close()
        files = make_fixtures(tmp)
        st, doc, _, _ = s.request("POST", "/v1/items", {"items": [{"id": 3000, "image": data_url(files["shoe.png"],
                                                                                           "image/png")}]})
        pay = json.loads(c.call("SAIL.GET", "web", 3000)[1])
        st2, web = http_search(s, {"query": [{"type": "image_url", "image_url": {"url": data_url(files["shoe.png"],
                                                                                             "image/png")}}], "k": 1})
        st3, doc3, _, _ = s.request("GET", "/v1/items/3000/image")
        check(st == 200 and pay == {"modality": "image"} and st2 == 200 and web[0]["id"] == 3000 and
              abs(web[0]["score"] - 1) <= SCORE_TOL and "image_url" not in web[0] and st3 == 501 and
              "keeps no image files" in doc3["error"]["message"],
              "an image item over redis:// is embedded but its file not kept (no source, no image_url); GET "
              ".../image answers 501 with the reason", "%s %s %s" % (pay, str(web)[:100], doc3))
        st, doc, _, _ = s.request("POST", "/v1/items", {"items": [{"text": "no id"}]})
        check(st == 400 and doc["error"]["code"] == "missing_id" and "redis://" in doc["error"]["message"],
              "an item without an id: 400 missing_id (servers may share a redis:// index)", str(doc))
        st, doc, _, _ = s.request("DELETE", "/v1/items/2001")
        st2, _, _, _ = s.request("DELETE", "/v1/items/2001")
        h = s.request("GET", "/healthz")[1]
        check(st == 200 and doc["deleted"] and st2 == 404 and c.call("SAIL.GET", "web", 2001) is None and
              h["index_items"] == len(items), "DELETE /v1/items/2001 removes it from Redis (again: 404); /healthz "
              "counts the module's items", "%s %s" % (doc, h))
    finally:
        rc = s.stop()
        c.close()
    check(rc == 0 and "stopped" in s.text(), "SIGTERM: the server over redis:// exits cleanly")


def wait_search(s, body, wait=5):
    """POST /v1/search until it is not a 503 (a client pauses 1 s after
    losing Redis) or wait seconds pass."""
    end = time.time() + wait
    while True:
        st, doc = http_search(s, body)
        if st != 503 or time.time() > end:
            return st, doc
        time.sleep(0.2)


def serve_redis_down(tmp):
    """Redis stopped under sail serve: the index routes answer 503 at once,
    the server lives, and it serves again once Redis is back (its AOF,
    appendfsync always, kept what was acknowledged). A server whose Redis
    cannot be reached at start exits with the reason."""
    d = os.path.join(tmp, "down")
    os.makedirs(d)
    r = Server(MODULE, dir=d, args=["--appendonly", "yes", "--appendfsync", "always"])
    s = serve("redis://127.0.0.1:%d/down" % r.port)
    try:
        st, _, _, _ = s.request("POST", "/v1/items", {"items": [{"id": i, "text": TEXTS[i]} for i in range(6)]})
        _, before = http_search(s, {"text": "a cat", "k": 3})
        r.kill()  # SIGKILL
        t = time.time()
        st1, doc1 = http_search(s, {"text": "a cat", "k": 3})
        st2, doc2, _, _ = s.request("POST", "/v1/items", {"items": [{"id": 9, "text": "x"}]})
        took = time.time() - t
        st3, h, _, _ = s.request("GET", "/healthz")
        where = "Redis at 127.0.0.1:%d" % r.port
        check(st == 200 and st1 == 503 and st2 == 503 and where in doc1["error"]["message"] and
              where in doc2["error"]["message"]
              and took < 5 and st3 == 200 and s.p.poll() is None,
              "Redis killed: /v1/search and /v1/items answer 503 naming it (in %.2f s), /healthz 200, the server "
              "lives" % took, "%s %s | %s" % (st1, doc1, doc2))
        r.start()  # the same port and directory
        st4, after = wait_search(s, {"text": "a cat", "k": 3})
        check(st4 == 200 and [(h["id"], h["score"]) for h in after] == [(h["id"], h["score"]) for h in before],
              "Redis back (from its AOF): the same server answers the same search again", str(after)[:200])
        # frozen, not gone: one search waits out the client's 10 s timeout; those queued behind it fail at once
        os.kill(r.proc.pid, signal.SIGSTOP)
        got = []
        t = time.time()
        th = [threading.Thread(target=lambda: got.append(http_search(s, {"text": "a cat", "k": 3})[0]))
              for _ in range(3)]
        for x in th:
            x.start()
        for x in th:
            x.join()
        took = time.time() - t
        os.kill(r.proc.pid, signal.SIGCONT)
        st5, again = wait_search(s, {"text": "a cat", "k": 3})
        check(got == [503] * 3 and took < 13 and st5 == 200 and [h["id"] for h in again] == [h["id"] for h in before],
              "Redis frozen (SIGSTOP): 3 concurrent searches all answer 503 in %.1f s (one 10 s timeout, not one "
              "each); after SIGCONT it serves again" % took, "%s %s" % (got, st5))
    finally:
        s.stop()
        r.stop()
    p = subprocess.run([tap.SAIL, "serve", "--model", MODEL, "--port", "0", "--index", "redis://127.0.0.1:1/x"],
                       capture_output=True, timeout=60)
    err = p.stderr.decode()
    check(p.returncode == 1 and "cannot connect to Redis at 127.0.0.1:1" in err and "listening" not in err,
          "sail serve --index redis://<nothing there>: exit 1 with the reason", err[-200:])


# ---------------------------------------------------------------- cluster --

def cluster_slots(c):
    """[(first, last, master port, [replica ports])]"""
    return [(s[0], s[1], s[2][1], [r[1] for r in s[3:]]) for s in c.call("CLUSTER", "SLOTS")]


def owner(slots, slot):
    for a, b, port, _ in slots:
        if a <= slot <= b:
            return port
    return None


def cluster(tmp):
    ports = free_ports(6)
    nodes = []
    try:
        for p in ports:
            d = os.path.join(tmp, "node-%d" % p)
            os.makedirs(d)
            nodes.append(Server(MODULE, port=p, dir=d, threads=1,
                                args=["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                      "--cluster-node-timeout", "1500", "--appendonly", "no"]))
        r = subprocess.run(["redis-cli", "--cluster", "create"] + ["127.0.0.1:%d" % p for p in ports] +
                           ["--cluster-replicas", "1", "--cluster-yes"], capture_output=True, timeout=60)
        if not check(r.returncode == 0, "redis-cli --cluster create: 3 masters, 3 replicas",
                     r.stdout.decode()[-300:].replace("\n", " | ")):
            return
        conns = {p: Conn(p) for p in ports}
        end = time.time() + 30
        while time.time() < end and not all(b"cluster_state:ok" in conns[p].call("CLUSTER", "INFO") for p in ports):
            time.sleep(0.2)
        # until every master lists its replica (they join asynchronously)
        while time.time() < end and not all(s[3] for s in cluster_slots(conns[ports[0]])):
            time.sleep(0.2)
        slots = cluster_slots(conns[ports[0]])
        masters = sorted({s[2] for s in slots})
        n_shards = 6
        shard_keys = ["{items:%d}" % i for i in range(n_shards)]
        where = {k: owner(slots, conns[ports[0]].call("CLUSTER", "KEYSLOT", k)) for k in shard_keys}
        check(len(masters) == 3 and set(where.values()) == set(masters),
              "the %d shard keys {items:i} land on all 3 masters" % n_shards, str(where))
        x = data(1800, 10)
        for k in shard_keys:
            conns[where[k]].call("SAIL.CREATE", k, "DIM", D, "METRIC", "l2")
        acked, unacked = [], 0
        for s in range(0, len(x), 100):
            batch = range(s, s + 100)
            for k in shard_keys:
                ids = [i for i in batch if i % n_shards == shard_keys.index(k)]
                conns[where[k]].pipeline([["SAIL.ADD", k, i, "VECTOR", blob(x[i])] for i in ids])
            # one WAIT per master: the writes sent before it are on a replica when it says 1
            ok = {m: conns[m].call("WAIT", 1, 2000) for m in masters}
            for i in batch:
                if ok[where[shard_keys[i % n_shards]]] >= 1:
                    acked.append(i)
                else:
                    unacked += 1
        # a fan-out search merged = exact search over everything
        q = data(5, 11)
        merged_ok = True
        for v in q:
            allh = []
            for k in shard_keys:
                allh += hits(conns[where[k]].call("SAIL.SEARCH", k, "VECTOR", blob(v), K, "EXACT", "NOPAYLOAD"))
            allh.sort(key=lambda h: (h[1], h[0]))
            d2 = ((x - v) ** 2).sum(1, dtype=np.float64)
            ref = np.argsort(d2, kind="stable")[:K]
            merged_ok &= [h[0] for h in allh[:K]] == list(ref)
        check(merged_ok, "a search fanned out to the shards and merged = brute force over all items (numpy)")
        # routing by the key specs: a replica answers reads after READONLY and sends writes to its master
        k0, m0 = shard_keys[0], where[shard_keys[0]]
        rep = [s[3][0] for s in slots if s[2] == m0][0]
        i0 = next((i for i in acked if i % n_shards == 0), 0)
        moved = "MOVED %d 127.0.0.1:%d" % (conns[ports[0]].call("CLUSTER", "KEYSLOT", k0), m0)
        on_rep = Conn(rep)
        before = on_rep.call("SAIL.GET", k0, i0)
        on_rep.call("READONLY")
        got = on_rep.pipeline([["SAIL.GET", k0, i0], ["SAIL.SEARCH", k0, "VECTOR", blob(x[i0]), K, "NOPAYLOAD"],
                               ["SAIL.IDS", k0, "CURSOR", 0, "COUNT", 5], ["SAIL.ADD", k0, 9999, "VECTOR", blob(x[0])]])
        on_rep.close()
        check(str(before) == moved and isinstance(got[0], list) and got[0][0] == blob(x[i0]) and
              len(got[1]) == K and len(got[2][1]) == 5 and str(got[3]) == moved,
              "replica :%d of %s's master: SAIL.GET before READONLY, and SAIL.ADD after it, are MOVED to :%d; "
              "after READONLY it answers SAIL.GET, SAIL.SEARCH and SAIL.IDS itself" % (rep, k0, m0),
              str([before] + got)[:300])
        # the CLI does the same through any node, following MOVED to each shard's master
        qv = embed(["a red car"], dim=D)
        rc, res = search_cli("redis://127.0.0.1:%d/items" % ports[0], "a red car", "--exact", "-k", K)
        d2 = ((x - qv[0]) ** 2).sum(1, dtype=np.float64) if qv is not None else None
        check(rc == 0 and qv is not None and [h["id"] for h in res] == list(np.argsort(d2, kind="stable")[:K]),
              "sail search --index redis://<one node>/items merges the 6 shards across the cluster = brute force "
              "(numpy) of the query's %d-dim vector" % D, str(res)[:200])
        # sail serve on the same index: the same answer; an item it adds lands on its shard's master
        s = serve("redis://127.0.0.1:%d/items" % ports[0])
        try:
            st, web = http_search(s, {"text": "a red car", "k": K, "exact": True})
            st2, _, _, _ = s.request("POST", "/v1/items", {"items": [{"id": 5003, "text": "a red car"}]})
        finally:
            s.stop()
        k5 = shard_keys[5003 % n_shards]
        g = conns[owner(slots, conns[ports[0]].call("CLUSTER", "KEYSLOT", k5))].call("SAIL.GET", k5, 5003)
        check(st == 200 and rc == 0 and [h["id"] for h in web] == [h["id"] for h in res] and
              scores_close([h["score"] for h in web], [h["score"] for h in res]) and st2 == 200 and
              isinstance(g, list) and np.abs(np.frombuffer(g[0], "<f4") - qv[0]).max() <= 1e-6,
              "sail serve --index redis://<one node>/items: /v1/search = sail search over the 6 shards; an item "
              "POSTed lands on {items:%d} (5003 mod 6) on its master, the query's vector" % (5003 % n_shards),
              str(web)[:200])
        r = tap.sail("index", "add", "--index", "redis://127.0.0.1:%d/texts" % ports[0], "--shards", 4, "--model",
                     MODEL, write_items(tmp))
        n_on = []
        for s in range(4):
            k = "{texts:%d}" % s
            n_on.append(conns[owner(slots, conns[ports[0]].call("CLUSTER", "KEYSLOT", k))].call("SAIL.INFO", k)[17])
        check(r.returncode == 0 and n_on == [sum(1 for i in range(len(TEXTS)) if (1000 + i) % 4 == s) for s in range(4)],
              "sail index add --index redis://<one node>/texts --shards 4 creates and fills the shards on their "
              "masters", str(n_on))
        # every id, listed through one node over the 6 shards on 3 masters (MOVED followed)
        r = tap.sail("index", "semantic-ids", "--index", "redis://127.0.0.1:%d/items" % ports[0], "--levels", 1,
                     "--codebook", 4, "--max-iter", 3, ok=False)
        listed = [it["id"] for it in json.loads(r.stdout)["items"]] if r.returncode == 0 else r.stderr.decode()
        want = [i for s in range(n_shards) for i in list(range(len(x))) + [5003] if i % n_shards == s]
        check(listed == want, "sail index semantic-ids --index redis://<one node>/items lists exactly the %d ids "
              "added, shard {items:0}'s first, each shard in insertion order" % len(want), str(listed)[-200:])
        victim = where[shard_keys[0]]
        replica = [s[3][0] for s in slots if s[2] == victim][0]
        nodes[ports.index(victim)].kill()  # SIGKILL
        end = time.time() + 40
        promoted = False
        while time.time() < end and not promoted:
            try:
                promoted = conns[replica].call("ROLE")[0] == b"master"
            except (OSError, ConnectionError):
                pass
            time.sleep(0.2)
        check(promoted, "after SIGKILL of master :%d its replica :%d took over" % (victim, replica))
        alive = [p for p in ports if p != victim]
        end = time.time() + 30
        while time.time() < end and b"cluster_state:ok" not in conns[alive[0]].call("CLUSTER", "INFO"):
            time.sleep(0.2)
        slots = cluster_slots(conns[alive[0]])
        missing = []
        for i in acked:
            k = shard_keys[i % n_shards]
            p = owner(slots, conns[alive[0]].call("CLUSTER", "KEYSLOT", k))
            g = conns[p].call("SAIL.GET", k, i) if p in conns and p != victim else None
            if not isinstance(g, list) or g[0] != blob(x[i]):
                missing.append(i)
        check(acked and not missing, "every write acknowledged by WAIT 1 (%d of %d; %d not acknowledged) is present "
              "after the failover" % (len(acked), len(x), unacked), "missing %s" % missing[:5])
        for cn in conns.values():
            try:
                cn.close()
            except OSError:
                pass
    finally:
        for s in nodes:
            s.stop()


def on_node(srv, tmp):
    cli_search(srv, tmp)
    serve_redis(srv, tmp)


def rest(tmp):
    serve_redis_down(tmp)
    cluster(tmp)


if __name__ == "__main__":
    sys.exit(run(on_node, rest))
