"""Replicas behind nginx (docs/SCALING.md): the nginx.conf documented there,
with the ports of two `sail serve` replicas of the shipped model, run by an
unprivileged nginx on loopback (prefix, pid, logs and temp files in a temp
folder). 2,000 embedding requests go through it from 16 threads; one
replica gets SIGTERM halfway. Every request must succeed and every vector
must equal `sail embed`'s of the same text; both replicas must have served,
and only the survivor after the stop. Skipped with the reason when nginx is
not installed (Debian: nginx-light)."""
import base64
import concurrent.futures
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import numpy as np

import tap
from tap import HERE, SAIL, check, free_port
from server_util import Server

MODEL = os.path.join(HERE, "..", "models", "sail-tiny.gguf")
DOC = os.path.join(HERE, "..", "docs", "SCALING.md")
N_REQUESTS = 2000
N_TEXTS = 200
# The server pads a dynamic batch to its longest text, which moves float
# sums by a few ulp (test_server.py measured <= 6e-8): 1e-6, as there.
TOL = 1e-6


def find_nginx():
    for p in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if p and os.access(p, os.X_OK):
            return p
    return None


def documented_conf():
    text = open(DOC).read()
    m = re.search(r"<!-- nginx.conf begin -->\s*```nginx\n(.*?)```\s*<!-- nginx.conf end -->", text, re.S)
    return m.group(1) if m else None


def test_conf(doc, tmp, port, replicas):
    """The documented configuration on this test's ports, plus what an
    unprivileged nginx needs: its pid file, logs and temp folders in tmp."""
    lines = doc.splitlines()
    servers = [i for i, l in enumerate(lines) if re.match(r"\s*server 127\.0\.0\.1:\d+ ", l)]
    if len(servers) != len(replicas):
        return None
    for i, rport in zip(servers, replicas):
        lines[i] = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:%d" % rport, lines[i])
    conf = "\n".join(lines)
    conf, n = re.subn(r"listen \d+;", "listen 127.0.0.1:%d;" % port, conf)
    if n != 1:
        return None
    paths = "".join("    %s_temp_path %s;\n" % (k, os.path.join(tmp, k)) for k in
                    ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    log = ("    log_format up '$status|$upstream_addr|$upstream_status';\n"
           "    access_log %s up;\n" % os.path.join(tmp, "access.log"))
    conf = conf.replace("http {\n", "http {\n" + paths + log, 1)
    return "pid %s;\nerror_log %s info;\n%s" % (os.path.join(tmp, "nginx.pid"), os.path.join(tmp, "error.log"), conf)


def wait_port(port, proc, seconds=10):
    end = time.time() + seconds
    while time.time() < end and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def reference(texts):
    r = subprocess.run([SAIL, "embed", "--model", MODEL, "--separate"] + sum([["--text", t] for t in texts], []),
                       capture_output=True)
    if r.returncode:
        raise RuntimeError(r.stderr.decode())
    return np.array([d["embedding"] for d in json.loads(r.stdout)["data"]], np.float32)


def main():
    nginx = find_nginx()
    if not nginx:
        print("skip - nginx is not installed (Debian: nginx-light; scripts/install-deps.sh)")
        return 0
    doc = documented_conf()
    if not check(doc is not None, "docs/SCALING.md holds the nginx.conf between its markers"):
        return tap.summary()
    rng = np.random.default_rng(19)
    words = ["red", "dress", "black", "sneakers", "blue", "sky", "a", "cat", "on", "the", "mat", "红色", "连衣裙",
             "运动鞋", "wooden", "table", "river", "at", "night"]
    texts = sorted({" ".join(rng.choice(words, int(rng.integers(1, 9)))) for _ in range(3 * N_TEXTS)})[:N_TEXTS]
    ref = reference(texts)
    tmp = tempfile.mkdtemp(prefix="sail-nginx-")
    reps, ng = [], None
    try:
        try:
            reps = [Server(MODEL, "--max-connections-per-ip", 0) for _ in range(2)]
        except RuntimeError as e:
            check(False, "two sail serve replicas start", str(e)[-300:])
            return tap.summary()
        check(True, "two sail serve replicas start")
        port = free_port()
        conf = test_conf(doc, tmp, port, [r.port for r in reps])
        if not check(conf is not None, "the documented config has one upstream server line per replica and one listen"):
            return tap.summary()
        with open(os.path.join(tmp, "nginx.conf"), "w") as f:
            f.write(conf)
        r = subprocess.run([nginx, "-t", "-p", tmp, "-e", os.path.join(tmp, "error.log"), "-c",
                            os.path.join(tmp, "nginx.conf")], capture_output=True)
        if not check(r.returncode == 0, "nginx -t accepts the documented config",
                 r.stderr.decode()[-300:].replace("\n", " | ") if r.returncode else ""):
            return tap.summary()
        ng = subprocess.Popen([nginx, "-p", tmp, "-e", os.path.join(tmp, "error.log"), "-c",
                               os.path.join(tmp, "nginx.conf"), "-g", "daemon off;"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        if not check(wait_port(port, ng), "nginx listens on loopback as an unprivileged process"):
            return tap.summary()

        url = "http://127.0.0.1:%d/v1/embeddings" % port
        done = [0]
        lock = threading.Lock()
        halfway = threading.Event()

        def one(i):
            body = json.dumps({"input": texts[i % N_TEXTS], "encoding_format": "base64"}).encode()
            req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    st, doc = resp.status, json.loads(resp.read())
            except urllib.error.HTTPError as e:
                st, doc = e.code, None
            except OSError as e:
                st, doc = str(e), None
            v = np.frombuffer(base64.b64decode(doc["data"][0]["embedding"]), "<f4") if st == 200 else None
            with lock:
                done[0] += 1
                if done[0] == N_REQUESTS // 2:
                    halfway.set()
            return i, st, v

        t0 = time.time()
        stop_rc = [None]

        def stopper():
            halfway.wait()
            stop_rc[0] = reps[0].stop()
            with open(os.path.join(tmp, "access.log")) as f:
                stop_rc.append(sum(1 for _ in f))  # requests logged by the time replica 0 was gone

        th = threading.Thread(target=stopper)
        th.start()
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            results = list(ex.map(one, range(N_REQUESTS)))
        th.join()
        wall = time.time() - t0
        bad = [(i, st) for i, st, _ in results if st != 200]
        check(not bad, "%d requests through nginx, a replica stopped halfway: 0 failed" % N_REQUESTS,
              "%d failed, e.g. %s" % (len(bad), bad[:3]) if bad else "")
        err = max((float(np.abs(v - ref[i % N_TEXTS]).max()) for i, st, v in results if v is not None), default=1.0)
        check(not bad and err <= TOL, "every vector equals `sail embed`'s of the same text (max |diff| %.2g)" % err)
        check(stop_rc[0] == 0, "the stopped replica finished its requests and exited 0 after SIGTERM",
              "exit status %s" % stop_rc[0] if stop_rc[0] else "")
        print("# %d requests in %.1f s (%.0f/s)" % (N_REQUESTS, wall, N_REQUESTS / wall))

        ng.send_signal(signal.SIGQUIT)  # graceful: flushes the access log
        ng.wait(10)
        with open(os.path.join(tmp, "access.log")) as f:
            log = [l.rstrip("\n").split("|") for l in f]
        # $upstream_addr lists every replica tried; the last one answered
        last = [l[1].split(", ")[-1] if len(l) == 3 else "" for l in log]
        a0, a1 = ("127.0.0.1:%d" % r.port for r in reps)
        served = [sum(1 for l, a in zip(log, last) if l[0] == "200" and a == x) for x in (a0, a1)]
        check(len(log) == N_REQUESTS and sum(served) == N_REQUESTS and min(served) > 0,
              "nginx logged every request as a 200 from a replica, and both replicas answered some (%d and %d)"
              % tuple(served))
        late = sum(1 for a in last[stop_rc[1]:] if a == a0) if len(stop_rc) == 2 else -1
        check(late == 0, "after the stop, no request was answered by the stopped replica",
              "%d were" % late if late else "")
        retried = sum(1 for l in log if len(l) == 3 and "," in l[1])
        print("# %d request(s) went to the other replica after the first one failed" % retried)
    finally:
        if ng and ng.poll() is None:
            ng.kill()
            ng.wait()
        for r in reps:
            r.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
