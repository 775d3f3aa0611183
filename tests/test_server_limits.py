"""`sail serve` under hostile clients and conditions: slow clients and the
graceful SIGTERM shutdown, connection limits (overall and per address),
idle floods, running out of file descriptors, HTTPS, and a model that
produces NaN."""
import http.client
import os
import re
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time


import tap
from tap import SAIL, check
from server_util import Server, cli_embed, close, count_closed, finish, hang_up, setup, start, timed_healthz, vectors



def test_slow_client_and_shutdown(model):
    s = Server(model, "--http-threads", "1", "--timeout", "2", "--batch-wait-ms", "400")
    try:
        slow = socket.create_connection(("127.0.0.1", s.port))
        slow.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"inp")
        t0 = time.time()
        st, _, _, _ = s.embed({"input": "hello"})
        check(st == 200 and time.time() - t0 < 1.5,
              "a client stalled mid-body does not hold the only HTTP thread")
        slow.settimeout(6)
        try:
            closed = slow.recv(100) == b""
        except (socket.timeout, ConnectionResetError):
            closed = False if isinstance(sys.exc_info()[1], socket.timeout) else True
        check(closed and time.time() - t0 < 6, "the stalled connection is closed after --timeout 2")
        slow.close()
        text = s.request("GET", "/metrics")[2].decode()
        check('status="0"' not in text and 'sail_http_requests_aborted_total{endpoint="/v1/embeddings",'
              'reason="timeout"} 1' in text, "the stalled request is counted as aborted with reason=\"timeout\"")

        # SIGTERM while a request waits in the batcher: it still completes.
        res = {}

        def one():
            res["r"] = s.embed({"input": ["a", "b", "c"]})

        th = threading.Thread(target=one)
        th.start()
        time.sleep(0.15)
        s.p.send_signal(signal.SIGTERM)
        time.sleep(0.1)
        try:
            socket.create_connection(("127.0.0.1", s.port), timeout=1).close()
            refused_early = False
        except OSError:
            refused_early = True
        early = th.is_alive()
        th.join(30)
        rc = s.p.wait(30)
        st = res.get("r", (0,))[0]
        check(st == 200 and len(res["r"][1]["data"]) == 3 and rc == 0 and "stopped" in s.text(),
              "SIGTERM: the request in flight completes (200), then the server exits 0")
        try:
            socket.create_connection(("127.0.0.1", s.port), timeout=1).close()
            refused = False
        except OSError:
            refused = True
        check(refused and refused_early and early,
              "from SIGTERM on, new connections are refused while the request in flight is still being served")
    finally:
        s.stop()


def test_connection_limits(model):
    """Idle connections are bounded per client address and closed when no
    request header arrives; loopback clients differ by source address
    (127.0.0.1, 127.0.0.2: loopback is all of 127/8)."""
    s = start(model, "--max-connections-per-ip", 8, "--header-timeout", 2, "--timeout", 10, "--http-threads", 2)
    if not s:
        return
    socks = []
    try:
        socks = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(30)]
        t0 = time.time()
        at_once = len(count_closed(socks, 0.8))
        st, dt = timed_healthz(s, "127.0.0.2")
        check(at_once == 22 and st == 200 and dt < 1,
              "30 idle connections from 127.0.0.1, --max-connections-per-ip 8: %d closed at once (want 22); "
              "/healthz from 127.0.0.2 answers %d in %.2f s" % (at_once, st, dt))
        held = [k for k in socks if k not in count_closed(socks, 0)]
        left = len(count_closed(held, 5))
        check(len(held) == 8 and left == 8 and time.time() - t0 < 4.5,
              "the 8 held idle without a request header are closed by --header-timeout 2 (after %.1f s)"
              % (time.time() - t0))
        # the server frees the address's slots when libmicrohttpd reports
        # the closes, a moment after the client sees them (longer under ASan)
        t1 = time.time()
        st, dt = timed_healthz(s)
        while st != 200 and time.time() - t1 < 1:
            time.sleep(0.05)
            st, dt = timed_healthz(s)
        check(st == 200 and dt < 1, "then 127.0.0.1 is served again (%.2f s after the closes)" % (time.time() - t1))

        # Once its header is in, a request has --timeout: a body pausing
        # past the header timeout is still served.
        c = socket.create_connection(("127.0.0.1", s.port))
        socks.append(c)
        c.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: 15\r\n\r\n{\"input\"")
        time.sleep(3)
        c.sendall(b': "ab"}')
        c.settimeout(10)
        resp = b""
        while b"\r\n\r\n" not in resp or not resp.rstrip().endswith(b"}"):
            chunk = c.recv(65536)
            if not chunk:
                break
            resp += chunk
        t1 = time.time()
        check(resp.startswith(b"HTTP/1.1 200"), "a body pausing 3 s (past --header-timeout 2, within --timeout 10) "
              "is served: %s" % resp[:40])
        # Kept alive, the connection waits for the next header: 2 s again.
        closed = len(count_closed([c], 8))
        dt = time.time() - t1
        check(closed == 1 and 1.5 < dt < 4.5,
              "the kept-alive connection, idle after its response, is closed by the header timeout (%.1f s)" % dt)
    finally:
        hang_up(s, socks)


def test_idle_flood(model):
    """The hardening issue's case: 1,100 idle connections from one client
    held every slot and /healthz went unanswered for 30 s."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1300 and (hard == resource.RLIM_INFINITY or hard >= 1300):
        resource.setrlimit(resource.RLIMIT_NOFILE, (1300, hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 1300:
        print("skip - 1,100 idle connections need ulimit -n 1300 in the test (it is %d)" % soft)
        return
    s = start(model)
    if not s:
        return
    socks = []
    try:
        socks = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(1100)]
        st, dt = timed_healthz(s, "127.0.0.2")
        at_once = len(count_closed(socks, 1))
        check(st == 200 and dt < 2 and at_once == 1100 - 256,
              "1,100 idle connections from one address, default limits: /healthz from another answers %d in "
              "%.2f s; %d closed at once (want 844: --max-connections-per-ip 256)" % (st, dt, at_once))
    finally:
        hang_up(s, socks)


def test_fd_limit(model):
    """--max-connections is fitted under RLIMIT_NOFILE: the soft limit is
    raised towards the hard one, and the connection limit lowered (with a
    message) when the hard one is too low."""
    def nofile(soft, hard):
        return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    s = start(model, "--http-threads", 2, "--header-timeout", 1, preexec_fn=nofile(160, 160))
    if not s:
        return
    socks = []
    try:
        m = re.search(r"--max-connections 1024 lowered to (\d+)", s.text())
        check(m and int(m.group(1)) == 160 - 64 - 4 * 2, "ulimit -n 160: --max-connections 1024 lowered to %s "
              "(160 less 72 kept for files and threads)" % (m.group(1) if m else None))
        socks = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(100)]
        st, dt = timed_healthz(s, "127.0.0.2")
        check(st == 200 and dt < 4 and s.p.poll() is None,
              "100 idle connections on 88 slots: the rest wait, and /healthz answers once the header timeout frees "
              "slots (%d in %.1f s)" % (st, dt))
    finally:
        hang_up(s, socks)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        print("skip - the hard ulimit -n is %d: raising the soft limit is not tested" % hard)
        return
    s = start(model, preexec_fn=nofile(100, hard))
    if not s:
        return
    try:
        socks = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(150)]
        at_once = len(count_closed(socks, 0.5))
        st, dt = timed_healthz(s)
        check("lowered" not in s.text() and at_once == 0 and st == 200 and dt < 1,
              "soft ulimit -n 100 under a higher hard one: raised, 150 idle connections held, /healthz %d "
              "in %.2f s" % (st, dt))
    finally:
        hang_up(s, socks)


def test_tls(model, tmp):
    openssl = shutil.which("openssl")
    if not openssl:
        print("skip - openssl is missing (run scripts/install-deps.sh): HTTPS is not tested")
        return
    cert, key, key2 = (os.path.join(tmp, n) for n in ("cert.pem", "key.pem", "key2.pem"))

    def selfsigned(key_path):
        return subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                               "-nodes", "-keyout", key_path, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                               "-addext", "subjectAltName=IP:127.0.0.1"], capture_output=True).returncode
    check(selfsigned(key2) == 0 and selfsigned(key) == 0, "openssl: a self-signed certificate for 127.0.0.1")
    ctx = ssl.create_default_context(cafile=cert)
    s = start(model, "--tls-cert", cert, "--tls-key", key, tls=ctx)
    if s:
        try:
            st, doc, _, _ = s.request("GET", "/healthz")
            check(st == 200 and doc["status"] == "ok" and "listening on https://" in s.text(),
                  "--tls-cert/--tls-key: GET /healthz over HTTPS, the certificate verified by Python's ssl")
            st, doc, _, _ = s.embed({"input": "a red dress"})
            check(st == 200 and close(vectors(doc)[0], cli_embed(model, ["--text", "a red dress"])[0]),
                  "POST /v1/embeddings over HTTPS: the vector of `sail embed`")
            try:
                c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
                c.request("GET", "/healthz")
                plain = c.getresponse().status
            except (OSError, http.client.HTTPException):
                plain = None
            check(plain is None, "plain HTTP to the HTTPS port gets no HTTP response (%s)" % plain)
        finally:
            s.stop()
    junk, broken = os.path.join(tmp, "junk.pem"), os.path.join(tmp, "broken.pem")
    with open(junk, "w") as f:
        f.write("not a certificate\n")
    with open(broken, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    for args, want, name in (
            (["--tls-cert", os.path.join(tmp, "nope.pem"), "--tls-key", key], ["nope.pem", "No such file"],
             "a missing certificate file"),
            (["--tls-cert", cert, "--tls-key", os.path.join(tmp, "nokey.pem")], ["nokey.pem", "No such file"],
             "a missing key file"),
            (["--tls-cert", junk, "--tls-key", key], ["junk.pem", "not PEM"], "a file that is not PEM"),
            (["--tls-cert", broken, "--tls-key", key], ["broken.pem", "certificate"], "a damaged PEM certificate"),
            (["--tls-cert", cert, "--tls-key", cert], ["--tls-key " + cert], "the certificate given as the key"),
            (["--tls-cert", cert, "--tls-key", key2], ["key2.pem", "do not match"], "the key of another certificate")):
        r = subprocess.run([SAIL, "serve", "--model", model, "--port", "0"] + args, capture_output=True, timeout=30)
        err = r.stderr.decode(errors="replace")
        check(r.returncode == 1 and all(w in err for w in want) and "listening" not in err,
              "%s: exit 1 at start-up: %s" % (name, " | ".join(err.strip().splitlines()[-2:])[:240]))
    r = subprocess.run([SAIL, "serve", "--model", model, "--tls-cert", cert], capture_output=True, timeout=30)
    check(r.returncode == 2 and b"--tls-key" in r.stderr, "--tls-cert without --tls-key: exit 2")


def test_nonfinite(model, tmp):
    """A model whose weights hold NaN: every embedding route answers 500
    naming the model, never a vector with NaN or an empty one."""
    bad = os.path.join(tmp, "nan.gguf")
    shutil.copy(model, bad)
    t, _, off = tap.gguf_tensors(bad)["head.proj.weight"]
    with open(bad, "r+b") as f:
        f.seek(off)
        f.write((b"\x00\x7e" if t == 1 else b"\x00\x00\xc0\x7f") * 8)  # f16 / f32 NaN
    s = start(bad, "--index", os.path.join(tmp, "nan-ix"))
    if not s:
        return
    try:
        for body, name in (({"input": "a red dress"}, "float"),
                           ({"input": ["a", "b"], "encoding_format": "base64"}, "base64")):
            st, doc, data, _ = s.embed(body)
            e = (doc or {}).get("error", {})
            check(st == 500 and e.get("type") == "server_error" and "nan.gguf" in e.get("message", "")
                  and "data" not in doc and b'"embedding"' not in data,
                  "NaN weights, POST /v1/embeddings (%s): 500 naming the model: %s" % (name, e.get("message", data[:80])))
        st, doc, _, _ = s.request("POST", "/v1/items", {"items": [{"id": 1, "text": "x"}]})
        st2, doc2, _, _ = s.request("POST", "/v1/search", {"text": "x"})
        items = s.request("GET", "/healthz")[1]["index_items"]
        check(st == 500 and "nan.gguf" in doc["error"]["message"] and items == 0 and st2 == 500
              and "nan.gguf" in doc2["error"]["message"],
              "NaN weights: POST /v1/items and /v1/search answer 500 too, nothing is indexed (%d, %d, %d items)"
              % (st, st2, items))
    finally:
        s.stop()

def main():
    with tempfile.TemporaryDirectory() as tmp:
        vocab, model, files = setup(tmp)
        test_slow_client_and_shutdown(model)
        test_connection_limits(model)
        test_idle_flood(model)
        test_fd_limit(model)
        test_tls(model, tmp)
        test_nonfinite(model, tmp)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
