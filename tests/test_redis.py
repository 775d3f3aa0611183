"""The Redis module (build/sail-redis.so, docs/REDIS.md) in real redis-server
processes on loopback, each in a temporary directory and killed at the end.
asan: skip (Debian's redis-server is not built with ASan, so it cannot load
an ASan-built module; tests/test_index_image.c covers the index image code).

Single node: SAIL.SEARCH answers exactly as sail's own index (the Python
binding over libsail, built with the same options, seed and insertion
order) on the same random data: ids and float32 scores, HNSW at two beams,
EXACT, FILTER, for cosine/f32, l2/int8 and ip/exact. DEBUG RELOAD (RDB save
and load) keeps every item and every answer; a restart from the AOF (one
rewrite, which emits SAIL.CREATE/SAIL.ADD, then more writes appended)
keeps every item bit for bit. SAIL.IDS pages through exactly the live ids
in insertion order (deletes skipped, re-added ids moved to the end, small
and default COUNT), and a walk with deletes and adds between its pages
lists each item present throughout once. COMMAND INFO shows each
command's key spec (RO/access for the readers, RW insert/update/delete for
the writers) and arity; a user with read-only key permission (%R~*) runs
SAIL.SEARCH/GET/INFO/IDS and gets NOPERM for SAIL.ADD/DEL/CREATE, a
write-only one (%W~*) the reverse (but SAIL.INFO, metadata only).
Malformed commands get error replies and the server keeps serving. A DUMP
payload damaged inside the index image (and re-signed, so Redis's own
checksum passes) is refused by the module's
loader (RESTORE fails, the server lives); a dump.rdb damaged the same way
stops a restart with an error instead of a crash. Searches keep answering,
off the main thread, while another client loads 100,000 items.

Sail's own clients of the module, and the cluster, are test_redis_sail.py's.
Skipped with the reason when redis-server is not installed (Debian:
redis-server, redis-tools)."""
import json
import os
import sys
import threading
import time

import numpy as np

from tap import BUILD, HERE, check
from redis_util import D, K, MODULE, RespError, Server, blob, crc64, data, hits, run

sys.path.insert(0, os.path.join(HERE, "..", "python"))
os.environ.setdefault("SAIL_LIB", os.path.abspath(os.path.join(BUILD, "libsail.so")))
import sail  # noqa: E402

def load(c, key, x, first=0, payloads=None, batch=1000):
    replies = []
    for s in range(0, len(x), batch):
        cmds = []
        for i in range(s, min(s + batch, len(x))):
            cmd = ["SAIL.ADD", key, first + i, "VECTOR", blob(x[i])]
            if payloads is not None and payloads[i] is not None:
                cmd += ["PAYLOAD", json.dumps(payloads[i])]
            cmds.append(cmd)
        replies += c.pipeline(cmds)
    return replies



def same_as_sail(srv, tmp):
    """SAIL.SEARCH == sail.Index.search on the same items, for three configs."""
    c = srv.conn()
    x, q = data(3000, 1), data(12, 2)
    payloads = [{"shard": i % 4, "name": "item %d" % i} if i % 3 else None for i in range(len(x))]
    configs = [("cosine", "f32", "hnsw"), ("l2", "int8", "hnsw"), ("ip", "f32", "exact")]
    for metric, storage, kind in configs:
        key = "idx:%s:%s" % (metric, storage)
        r = c.call("SAIL.CREATE", key, "DIM", D, "METRIC", metric, "STORAGE", storage, "KIND", kind, "SEED", 1)
        replies = load(c, key, x, payloads=payloads)
        ok = r == "OK" and all(v == 1 for v in replies)
        ix = sail.Index(os.path.join(tmp, key.replace(":", "-")), create=True, dim=D, metric=metric, kind=kind,
                        storage=storage, threads=1)
        ix.add(np.arange(len(x), dtype=np.uint64), x, payloads)
        # replacing and deleting some items, in the same order on both sides
        c.call("SAIL.ADD", key, 5, "VECTOR", blob(x[7]))
        ix.add([5], x[7:8])
        ok &= c.call("SAIL.DEL", key, 11, 12, 999999) == 2
        ix.delete([11, 12])
        check(ok, "%s/%s/%s: SAIL.CREATE and %d SAIL.ADDs, a replace and a delete" % (metric, storage, kind, len(x)))
        for label, extra, kw in [("default ef", [], {}), ("EF 12", ["EF", 12], {"ef_search": 12}),
                                 ("EXACT", ["EXACT"], {"exact": True}),
                                 ("FILTER shard=2", ["FILTER", "shard=2"], {"filter": "shard=2"})]:
            bad = []
            for i in range(len(q)):
                got = hits(c.call("SAIL.SEARCH", key, "VECTOR", blob(q[i]), K, *extra))
                # one query per call, as SAIL.SEARCH runs it (4 or more at once
                # take the exact scan's tiled kernel: other float rounding)
                exp = [(h.id, np.float32(h.score), h.payload) for h in ix.search(q[i], K, **kw)[0]]
                if got != exp:
                    bad.append(i)
            check(not bad, "%s/%s/%s, %s: SAIL.SEARCH == sail's index (ids, float32 scores, payloads) on %d queries"
                  % (metric, storage, kind, label, len(q)), "queries %s differ" % bad[:4])
        info = c.call("SAIL.INFO", key)
        info = dict(zip(info[::2], info[1::2]))
        check(info.get(b"count") == len(x) - 2 and info.get(b"kind") == kind.encode(),
              "%s: SAIL.INFO reports kind and count" % key, str(info))
        ix.close()
    c.close()


def search_all(c, key, q, *extra):
    return [c.call("SAIL.SEARCH", key, "VECTOR", blob(v), K, *extra) for v in q]


def info_of(c, key):
    """SAIL.INFO as a dict, without memory_bytes (a loaded graph is in its
    compact frozen form, docs/INDEX.md)."""
    r = c.call("SAIL.INFO", key)
    d = dict(zip(r[::2], r[1::2]))
    d.pop(b"memory_bytes", None)
    return d


def debug_reload(srv):
    c = srv.conn()
    q = data(8, 3)
    keys = sorted(k.decode() for k in c.call("KEYS", "idx:*"))
    before = {k: (info_of(c, k), search_all(c, k, q)) for k in keys}
    r = c.call("DEBUG", "RELOAD")
    after = {k: (info_of(c, k), search_all(c, k, q)) for k in keys}
    check(r == "OK" and keys and before == after, "DEBUG RELOAD (RDB save and load) keeps every index: info and answers "
          "equal", str(r))
    c.close()


def aof_restart(tmp):
    """Items survive a restart from the AOF: a rewrite (SAIL.CREATE + SAIL.ADDs
    emitted from the index), then writes appended after it."""
    d = os.path.join(tmp, "aof")
    os.makedirs(d)
    # THREADS 0: this server runs its searches on the main thread
    srv = Server(MODULE, dir=d, threads=0, args=["--appendonly", "yes", "--aof-use-rdb-preamble", "no"])
    try:
        c = srv.conn()
        x = data(1500, 4)
        pay = [{"n": i} if i % 2 else None for i in range(len(x))]
        c.call("SAIL.CREATE", "a", "DIM", D, "METRIC", "l2", "STORAGE", "f16", "SEED", 9, "M", 8)
        load(c, "a", x[:1000], payloads=pay[:1000])
        c.call("SAIL.DEL", "a", *range(0, 1000, 10))
        r = c.call("BGREWRITEAOF")
        end = time.time() + 30
        while time.time() < end:
            inf = c.call("INFO", "persistence").decode()
            if "aof_rewrite_in_progress:0" in inf and "aof_rewrite_scheduled:0" in inf:
                break
            time.sleep(0.1)
        ok_rw = "aof_last_bgrewrite_status:ok" in inf
        load(c, "a", x[1000:], first=1000, payloads=pay[1000:])
        c.call("SAIL.DEL", "a", 1001, 1003)
        live = [i for i in range(len(x)) if not (i < 1000 and i % 10 == 0) and i not in (1001, 1003)]
        q = data(6, 5)
        before = search_all(c, "a", q, "EXACT")
        c.close()
        srv.kill(15)  # SIGTERM: a clean shutdown
        srv.start()
        c = srv.conn()
        info = c.call("SAIL.INFO", "a")
        info = dict(zip(info[::2], info[1::2]))
        got = c.pipeline([["SAIL.GET", "a", i] for i in range(len(x))])
        same = all((got[i] is not None) == (i in set(live)) for i in range(len(x)))
        same &= all(got[i][0] == blob(x[i]) and json.loads(got[i][1]) == (pay[i] or {}) for i in live)
        check(isinstance(r, str) and ok_rw and info.get(b"count") == len(live) and info.get(b"storage") == b"f16"
              and info.get(b"M") == 8 and info.get(b"seed") == b"9" and same,
              "restart from the AOF (rewrite + appended writes) keeps every item bit for bit and the options",
              "%s %s %s" % (r, ok_rw, info))
        check(search_all(c, "a", q, "EXACT") == before, "answers after the AOF restart are those before (searches "
              "in place, THREADS 0)")
        c.close()
    finally:
        srv.stop()


def malformed(srv):
    c = srv.conn()
    c.call("SAIL.CREATE", "m", "DIM", 4, "METRIC", "l2")
    c.call("SAIL.ADD", "m", 1, "VECTOR", blob([1, 2, 3, 4]))
    c.call("SET", "plain", "string")
    v4 = blob([1, 0, 0, 0])
    nan = blob([1, float("nan"), 0, 0])
    bad = [
        ["SAIL.CREATE", "m2"], ["SAIL.CREATE", "m2", "DIM", 0], ["SAIL.CREATE", "m2", "DIM", 70000],
        ["SAIL.CREATE", "m2", "DIM", "x"], ["SAIL.CREATE", "m2", "DIM", 4, "METRIC", "hamming"],
        ["SAIL.CREATE", "m2", "DIM", 4, "STORAGE", "f8"], ["SAIL.CREATE", "m2", "DIM", 4, "M", 1],
        ["SAIL.CREATE", "m2", "DIM", 4, "COLOUR", "red"], ["SAIL.CREATE", "m2", "DIM", 4, "M"],
        ["SAIL.CREATE", "m2", "METRIC", "l2"], ["SAIL.CREATE", "m", "DIM", 4], ["SAIL.CREATE", "plain", "DIM", 4],
        ["SAIL.ADD", "m", 2, "VECTOR", blob([1, 2, 3])], ["SAIL.ADD", "m", 2, "VECTOR", v4 + b"\0"],
        ["SAIL.ADD", "m", 2, "VECTOR", b""], ["SAIL.ADD", "m", 2, "VECTOR", nan],
        ["SAIL.ADD", "m", -1, "VECTOR", v4], ["SAIL.ADD", "m", "abc", "VECTOR", v4],
        ["SAIL.ADD", "m", "18446744073709551616", "VECTOR", v4], ["SAIL.ADD", "m", 2, "VEC", v4],
        ["SAIL.ADD", "m", 2, "VECTOR", v4, "PAYLOAD", "{"], ["SAIL.ADD", "m", 2, "VECTOR", v4, "PAYLOAD", "[1]"],
        ["SAIL.ADD", "m", 2, "VECTOR", v4, "PAYLOAD"], ["SAIL.ADD", "nokey", 2, "VECTOR", v4],
        ["SAIL.ADD", "plain", 2, "VECTOR", v4], ["SAIL.DEL", "m", "x"], ["SAIL.DEL", "m"],
        ["SAIL.SEARCH", "m", "VECTOR", v4, 1000000], ["SAIL.SEARCH", "m", "VECTOR", v4, 0],
        ["SAIL.SEARCH", "m", "VECTOR", v4, -3], ["SAIL.SEARCH", "m", "VECTOR", v4, "ten"],
        ["SAIL.SEARCH", "m", "VECTOR", v4, "99999999999999999999"], ["SAIL.SEARCH", "m", "VECTOR", blob([1, 2]), 5],
        ["SAIL.SEARCH", "m", "VECTOR", nan, 5], ["SAIL.SEARCH", "m", "VECTOR", v4, 5, "FILTER", "noequals"],
        ["SAIL.SEARCH", "m", "VECTOR", v4, 5, "FILTER", "=x"], ["SAIL.SEARCH", "m", "VECTOR", v4, 5, "FILTER"],
        ["SAIL.SEARCH", "m", "VECTOR", v4, 5, "EF", 0], ["SAIL.SEARCH", "m", "VECTOR", v4, 5, "EF", 10 ** 6],
        ["SAIL.SEARCH", "m", "VECTOR", v4, 5, "SORTBY", "x"], ["SAIL.SEARCH", "m", "QUERY", v4, 5],
        ["SAIL.SEARCH", "m", "VECTOR", v4], ["SAIL.SEARCH", "nokey", "VECTOR", v4, 5],
        ["SAIL.SEARCH", "plain", "VECTOR", v4, 5], ["SAIL.INFO", "plain"], ["SAIL.INFO"], ["SAIL.GET", "m", "x"],
        ["SAIL.IDS"], ["SAIL.IDS", "m"], ["SAIL.IDS", "m", 0], ["SAIL.IDS", "m", "CURSOR"],
        ["SAIL.IDS", "m", "CURSOR", "x"], ["SAIL.IDS", "m", "CURSOR", -1], ["SAIL.IDS", "m", "CURSOR", ""],
        ["SAIL.IDS", "m", "CURSOR", "18446744073709551616"], ["SAIL.IDS", "m", "CURSOR", 0, "COUNT", 0],
        ["SAIL.IDS", "m", "CURSOR", 0, "COUNT", -5], ["SAIL.IDS", "m", "CURSOR", 0, "COUNT", 100001],
        ["SAIL.IDS", "m", "CURSOR", 0, "COUNT", "99999999999999999999"], ["SAIL.IDS", "m", "CURSOR", 0, "COUNT", "x"],
        ["SAIL.IDS", "m", "CURSOR", 0, "COUNT"], ["SAIL.IDS", "m", "CURSOR", 0, "LIMIT", 5],
        ["SAIL.IDS", "m", "CURSOR", 0, "COUNT", 5, "COUNT", 5], ["SAIL.IDS", "nokey", "CURSOR", 0],
        ["SAIL.IDS", "plain", "CURSOR", 0],
    ]
    replies = [c.call(*cmd) for cmd in bad]
    not_err = [(" ".join(str(a)[:12] for a in cmd), r) for cmd, r in zip(bad, replies) if not isinstance(r, RespError)]
    check(not not_err, "%d malformed commands each get an error reply" % len(bad), str(not_err[:3]))
    check(c.call("PING") == "PONG" and c.call("SAIL.INFO", "m")[17] == 1 and srv.proc.poll() is None,
          "the server still serves and the index is unchanged (1 item)")
    msg = str(c.call("SAIL.SEARCH", "m", "VECTOR", blob([1, 2]), 5))
    check("16 bytes" in msg, "a wrong blob length names the length needed", msg)
    # where a client cannot be blocked the search runs in place
    want = c.call("SAIL.SEARCH", "m", "VECTOR", v4, 5)
    multi = c.pipeline([["MULTI"], ["SAIL.SEARCH", "m", "VECTOR", v4, 5], ["EXEC"]])
    lua = c.call("EVAL", "return redis.call('SAIL.SEARCH', KEYS[1], 'VECTOR', ARGV[1], 5)", 1, "m", v4)
    check(len(want) == 1 and multi[2] == [want] and lua == want, "SAIL.SEARCH inside MULTI and a Lua script answers "
          "as outside", str((multi, lua))[:200])
    c.close()


def walk_ids(c, key, count=None):
    """The ids SAIL.IDS lists from cursor 0 until it answers cursor 0, and
    the pages' sizes."""
    cursor, got, pages = b"0", [], []
    while True:
        r = c.call("SAIL.IDS", key, "CURSOR", cursor, *(["COUNT", count] if count else []))
        cursor, page = r
        got += [int(i) for i in page]
        pages.append(len(page))
        if cursor == b"0":
            return got, pages


def ids_pages(srv):
    """SAIL.IDS: the live ids in insertion order, page by page, as SCAN
    pages keys; a walk stays exact under deletes and adds between pages."""
    c = srv.conn()
    rng = np.random.default_rng(20)
    ids = list(dict.fromkeys([0, 2 ** 64 - 1, 2 ** 63] + [int(i) for i in rng.integers(1, 2 ** 62, 1500)]))
    x = data(len(ids), 21)
    c.call("SAIL.CREATE", "ids", "DIM", D, "KIND", "exact")
    added = c.pipeline([["SAIL.ADD", "ids", i, "VECTOR", blob(v)] for i, v in zip(ids, x)])
    gone, again = ids[::5], ids[1:4:2]  # deleted; re-added (a new slot at the end)
    deleted = c.call("SAIL.DEL", "ids", *gone)
    replaced = [c.call("SAIL.ADD", "ids", i, "VECTOR", blob(x[0])) for i in again]
    want = [i for i in ids if i not in set(gone) | set(again)] + again
    got, pages = walk_ids(c, "ids", 97)
    got1, pages1 = walk_ids(c, "ids")
    check(all(r == 1 for r in added) and deleted == len(gone) and replaced == [0, 0] and got == want and
          len(pages) > 10 and max(pages) == 97 and got1 == want and pages1 == [1000, len(want) - 1000],
          "SAIL.IDS with COUNT 97 walks %d pages and lists exactly the %d live ids in insertion order (after %d "
          "deletes, 2 re-adds moved to the end, ids up to 2^64-1); the default COUNT is 1000"
          % (len(pages), len(want), len(gone)), "%d ids, first differences %s" % (len(got), [
              (a, b) for a, b in zip(got, want) if a != b][:3]))
    # between pages: delete ids already listed and ids not yet reached, add new ones
    cursor, page = c.call("SAIL.IDS", "ids", "CURSOR", 0, "COUNT", 50)
    first = [int(i) for i in page]
    behind, ahead, new = want[:5], want[500:510], [10 ** 15 + i for i in range(3)]
    c.call("SAIL.DEL", "ids", *(behind + ahead))
    c.pipeline([["SAIL.ADD", "ids", i, "VECTOR", blob(x[1])] for i in new])
    rest = []
    while cursor != b"0":
        cursor, page = c.call("SAIL.IDS", "ids", "CURSOR", cursor, "COUNT", 50)
        rest += [int(i) for i in page]
    check(first == want[:50] and rest == [i for i in want[50:] if i not in ahead] + new,
          "a walk with deletes and adds between its pages lists every item present throughout exactly once, "
          "those deleted before it reached them not at all, those added meanwhile at the end")
    c.call("SAIL.CREATE", "ids:empty", "DIM", D)
    info = c.call("COMMAND", "INFO", "sail.ids")[0]
    check(c.call("SAIL.IDS", "ids", "CURSOR", 10 ** 12) == [b"0", []] and
          c.call("SAIL.IDS", "ids:empty", "CURSOR", 0, "COUNT", 100000) == [b"0", []] and
          "readonly" in info[2] and "write" not in info[2] and info[3:6] == [1, 1, 1],
          "a cursor past the end and an empty index answer [0, []]; SAIL.IDS is registered readonly with its key "
          "at position 1 (cluster routing)", str(info)[:200])
    c.close()


# key spec of each command's key (argv[1]): Redis's flags, as COMMAND INFO shows them
KEY_SPECS = {"sail.create": ["RW", "insert"], "sail.add": ["RW", "update"], "sail.del": ["RW", "delete"],
             "sail.get": ["RO", "access"], "sail.info": ["RO"], "sail.ids": ["RO", "access"],
             "sail.search": ["RO", "access"]}


def user_conn(srv, user):
    c = srv.conn()
    r = c.call("AUTH", user, "pw")
    if r != "OK":
        raise RuntimeError("AUTH %s: %r" % (user, r))
    return c


def key_specs(srv):
    """Each command's key spec (RedisModule_SetCommandInfo): COMMAND INFO
    shows it, and ACL key permissions follow it: a user who may only read
    keys (%R~*) runs the reading commands and is refused the writes; one
    who may only write (%W~*) writes, but reads no items back."""
    c = srv.conn()
    got = {}
    for name in KEY_SPECS:
        info = c.call("COMMAND", "INFO", name)[0]
        spec = info[8][0]  # [flags, [...], begin_search, [...], find_keys, [...]]
        got[name] = (spec[spec.index(b"flags") + 1], info[3:6], info[1])
    check(all(got[n][0] == KEY_SPECS[n] and got[n][1] == [1, 1, 1] for n in KEY_SPECS),
          "COMMAND INFO: the readers' key is RO (GET, IDS, SEARCH: access; INFO reads metadata only), the writers' "
          "RW (CREATE insert, ADD update, DEL delete); the key is argument 1 for cluster routing",
          str({n: g[0] for n, g in got.items()}))
    check([got[n][2] for n in KEY_SPECS] == [-4, -5, -3, 3, 2, -4, -5] and
          str(c.call("SAIL.GET", "acl")).startswith("ERR wrong number of arguments for 'sail.get'"),
          "COMMAND INFO: each command's arity, which Redis checks before the module runs",
          str([got[n][2] for n in KEY_SPECS]))
    v4 = blob([1, 0, 0, 0])
    c.call("SAIL.CREATE", "acl", "DIM", 4, "METRIC", "l2")
    c.call("SAIL.ADD", "acl", 1, "VECTOR", v4, "PAYLOAD", '{"a": 1}')
    c.call("ACL", "SETUSER", "reader", "on", ">pw", "%R~*", "+@all")
    c.call("ACL", "SETUSER", "writer", "on", ">pw", "%W~*", "+@all")
    c.call("ACL", "SETUSER", "searcher", "on", ">pw", "%R~acl", "-@all", "+sail.search", "+sail.get",
           "+sail.info", "+sail.ids")
    reads = [["SAIL.SEARCH", "acl", "VECTOR", v4, 1], ["SAIL.GET", "acl", 1], ["SAIL.INFO", "acl"],
             ["SAIL.IDS", "acl", "CURSOR", 0]]
    writes = [["SAIL.ADD", "acl", 2, "VECTOR", v4], ["SAIL.DEL", "acl", 1], ["SAIL.CREATE", "acl2", "DIM", 4]]
    want = [c.call(*cmd) for cmd in reads]
    try:
        r, w, s = user_conn(srv, "reader"), user_conn(srv, "writer"), user_conn(srv, "searcher")
        as_reader = [r.call(*cmd) for cmd in reads + writes]
        as_searcher = [s.call(*cmd) for cmd in reads]
        check(as_reader[:4] == want and as_searcher == want and want[0][0][0] == b"1",
              "a user with read-only key permission (%R~*, +@all; or %R~acl and just the 4 reading commands) runs "
              "SAIL.SEARCH, SAIL.GET, SAIL.INFO and SAIL.IDS, answered as the default user", str(as_reader[:4])[:200])
        check(all(str(x).startswith("NOPERM") for x in as_reader[4:]) and c.call("SAIL.INFO", "acl")[17] == 1 and
              c.call("EXISTS", "acl2") == 0,
              "...and is refused SAIL.ADD, SAIL.DEL and SAIL.CREATE with NOPERM; nothing changes",
              str(as_reader[4:])[:200])
        as_writer = [w.call(*cmd) for cmd in reads + writes]
        check([str(x).startswith("NOPERM") for x in as_writer[:4]] == [True, True, False, True] and
              as_writer[2] == want[2] and as_writer[4:] == [1, 1, "OK"],
              "a write-only user (%W~*) is refused the commands that return items (SEARCH, GET, IDS) but reads "
              "SAIL.INFO's metadata, and adds, deletes and creates", str(as_writer)[:200])
        for x in (r, w, s):
            x.close()
    finally:
        c.call("ACL", "DELUSER", "reader", "writer", "searcher")
        c.call("DEL", "acl", "acl2")
        c.close()


def image_offset(payload):
    i = payload.find(b"SAILIDX1")
    return i


def corrupt_payload(srv, tmp):
    c = srv.conn()
    c.call("CONFIG", "SET", "rdbcompression", "no")
    c.call("SAIL.CREATE", "c", "DIM", D, "SEED", 3)
    load(c, "c", data(200, 6))
    dump = c.call("DUMP", "c")
    body, sig = dump[:-8], dump[-8:]
    signed = crc64(body) == int.from_bytes(sig, "little")
    check(signed and image_offset(dump) > 0, "DUMP holds the index image, signed with Redis's CRC-64")
    ok = c.call("RESTORE", "c-copy", 0, dump) == "OK" and info_of(c, "c-copy") == info_of(c, "c")
    check(ok, "RESTORE of the intact payload makes an equal index")
    at = image_offset(dump)
    results = []
    for name, off in [("magic", at + 1), ("header", at + 70), ("a vector", at + 128 + 4 * 37), ("the graph", len(body) - 40)]:
        b = bytearray(body)
        b[off] ^= 0x5A
        bad = bytes(b) + crc64(bytes(b)).to_bytes(8, "little")
        r = c.call("RESTORE", "c-bad", 0, bad)
        results.append((name, r))
    refused = all(isinstance(r, RespError) for _, r in results) and c.call("EXISTS", "c-bad") == 0
    check(refused and c.call("PING") == "PONG", "a payload damaged in the image's magic, header, a vector or the graph "
          "is refused by the loader (RESTORE fails; the server lives)", str(results[:1]))
    check("sail: refusing an index from RDB" in srv.log(), "the log says why")
    # the same damage in dump.rdb: the restart stops with an error, not a crash
    d = os.path.join(tmp, "rdb")
    os.makedirs(d)
    s2 = Server(MODULE, dir=d, args=["--rdbcompression", "no", "--dbfilename", "dump.rdb"])
    try:
        c2 = s2.conn()
        c2.call("SAIL.CREATE", "r", "DIM", D)
        load(c2, "r", data(100, 7))
        c2.call("SAVE")
        c2.close()
        s2.kill()
        p = os.path.join(d, "dump.rdb")
        raw = bytearray(open(p, "rb").read())
        raw[image_offset(raw) + 128 + 4 * 11] ^= 0x40
        open(p, "wb").write(bytes(raw))
        try:
            s2.start()
            started = True
        except RuntimeError:
            started = False
        rc = s2.proc.returncode
        check(not started and rc is not None and rc > 0 and "refusing an index from RDB" in s2.log(),
              "redis-server refuses a dump.rdb with a damaged index: exit status %s, not a signal" % rc)
    finally:
        s2.stop()
    c.close()


def concurrent_load(srv, n=int(os.environ.get("SAIL_REDIS_LOAD", 100000))):
    """One client loads n items (SAIL_REDIS_LOAD; the issue's 100,000 by
    default, about 4 s) while another keeps searching."""
    c = srv.conn()
    c.call("SAIL.CREATE", "busy", "DIM", D, "EF_CONSTRUCTION", 40, "M", 8)
    x, q = data(n, 8), data(4, 9)
    load(c, "busy", x[:500])
    answers, errors, worst = [0], [], [0.0]
    counts_seen = set()
    done = threading.Event()

    def searcher():
        s = srv.conn()
        i = 0
        while not done.is_set():
            t = time.time()
            r = s.call("SAIL.SEARCH", "busy", "VECTOR", blob(q[i % 4]), K, "NOPAYLOAD")
            worst[0] = max(worst[0], time.time() - t)
            if isinstance(r, RespError) or len(r) != K:
                errors.append(r)
            answers[0] += 1
            counts_seen.add(s.call("SAIL.INFO", "busy")[17])
            i += 1
        s.close()

    th = threading.Thread(target=searcher)
    th.start()
    t0 = time.time()
    replies = load(c, "busy", x[500:], first=500, batch=250)
    load_s = time.time() - t0
    done.set()
    th.join()
    count = c.call("SAIL.INFO", "busy")[17]
    check(all(r == 1 for r in replies) and count == n, "%d items loaded by one client in %.1f s" % (n, load_s))
    check(not errors and answers[0] >= 20 and len(counts_seen) >= 5,
          "another client's searches kept answering during the load: %d answers, slowest %.0f ms, %d different "
          "counts seen" % (answers[0], 1000 * worst[0], len(counts_seen)), str(errors[:2]))
    c.close()


def on_node(srv, tmp):
    same_as_sail(srv, tmp)
    debug_reload(srv)
    malformed(srv)
    ids_pages(srv)
    key_specs(srv)
    corrupt_payload(srv, tmp)
    concurrent_load(srv)


if __name__ == "__main__":
    sys.exit(run(on_node, aof_restart))
