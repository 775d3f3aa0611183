"""Black-box tests of `sail serve`: the real binary on a free loopback port,
spoken to over HTTP. Vectors must equal `sail embed`'s (texts, images, joint
inputs, Matryoshka prefixes, float and base64), alone and inside dynamic
batches; every bad request gets its 4xx with an OpenAI-style error body;
slow clients, connection limits and timeouts, HTTPS, the API key, metrics,
a model that produces NaN and the graceful SIGTERM shutdown are exercised;
the index endpoints are checked when the server has --index; one server of
several models (--model NAME=PATH) answers each by name, concurrently.
The official `openai` npm client and the web page in headless Chromium run
from tests/server/*.mjs (skipped with a message when node, npm or chromium
is missing)."""
import base64
import http.client
import io
import json
import os
import random
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

import numpy as np

import tap
from tap import HERE, SAIL, check

SANITIZER_REPORTS = []  # server logs with ASan/UBSan/LSan reports (make asan)


class Server:
    """`sail serve` on port 0; the port is read from its start-up line. With
    tls (an ssl.SSLContext) requests go over HTTPS."""

    def __init__(self, model, *args, env=None, tls=None, preexec_fn=None):
        self.log = tempfile.TemporaryFile()
        self.tls = tls
        self.p = subprocess.Popen([SAIL, "serve", "--model", model, "--port", "0", "--threads", "1",
                                   "--quiet"] + [str(a) for a in args],
                                  stdout=self.log, stderr=subprocess.STDOUT, env=env, preexec_fn=preexec_fn)
        self.port = None
        for _ in range(300):
            m = re.search(r"listening on https?://127\.0\.0\.1:(\d+)", self.text())
            if m:
                self.port = int(m.group(1))
                break
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        if self.port is None:
            raise RuntimeError("sail serve did not start:\n" + self.text())

    def text(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def request(self, method, path, body=None, headers=None, timeout=60, source=None):
        """source: the client's address (loopback is 127.0.0.0/8, so a test
        can be a second client by connecting from 127.0.0.2)."""
        src = (source, 0) if source else None
        if self.tls:
            c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, source_address=src,
                                            context=self.tls)
        else:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout, source_address=src)
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        try:
            doc = json.loads(data)
        except ValueError:
            doc = None
        return r.status, doc, data, r

    def embed(self, body, **kw):
        return self.request("POST", "/v1/embeddings", body, **kw)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        text = self.text()
        if "Sanitizer" in text or "runtime error" in text:
            SANITIZER_REPORTS.append(text[-3000:])
        return self.p.returncode


def vectors(doc):
    out = []
    for d in doc["data"]:
        e = d["embedding"]
        out.append(np.frombuffer(base64.b64decode(e), dtype="<f4") if isinstance(e, str) else np.array(e, np.float32))
    return np.array(out)


def cli_embed(model, args):
    r = subprocess.run([SAIL, "embed", "--model", model, "--separate"] + [str(a) for a in args], capture_output=True)
    if r.returncode:
        raise RuntimeError(r.stderr.decode())
    return np.array([d["embedding"] for d in json.loads(r.stdout)["data"]], np.float32)


def start(model, *args, **kw):
    """A Server, or None after a failed check when it does not start."""
    try:
        return Server(model, *args, **kw)
    except RuntimeError as e:
        check(False, "sail serve %s starts" % " ".join(map(str, args)), str(e)[-300:].replace("\n", " | "))
        return None


def hang_up(s, socks):
    """Closes the idle connections socks, then stops server s."""
    for k in socks:
        k.close()
    s.stop()


def count_closed(socks, wait):
    """The idle sockets of socks the server closed (EOF or reset: they never
    sent anything, so they turn readable only then) within wait seconds."""
    import select
    poll = select.poll()
    by_fd = {k.fileno(): k for k in socks}
    for fd in by_fd:
        poll.register(fd, select.POLLIN)
    closed, deadline = [], time.time() + wait
    while True:
        left = max(0.0, deadline - time.time())
        for fd, _ in poll.poll(left * 1000):
            poll.unregister(fd)
            closed.append(by_fd[fd])
        if len(closed) == len(socks) or not left:
            return closed


def timed_healthz(s, source=None, timeout=5):
    """(status, seconds) of GET /healthz; status 0 when it got no answer."""
    t = time.time()
    try:
        st = s.request("GET", "/healthz", source=source, timeout=timeout)[0]
    except OSError:
        st = 0
    return st, time.time() - t


# The engine pads a batch to its longest text, which moves float sums by a
# few ulp (measured <= 6e-8): vectors are compared to 1e-6, not bit for bit.
TOL = 1e-6


def close(a, b):
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return a.shape == b.shape and a.size > 0 and float(np.abs(a - b).max()) <= TOL


def data_url(path, mime):
    return "data:%s;base64,%s" % (mime, base64.b64encode(open(path, "rb").read()).decode())


def image_part(url):
    return {"type": "image_url", "image_url": {"url": url}}


def make_fixtures(tmp):
    from PIL import Image
    rng = np.random.default_rng(7)
    files = {}
    for name, size in (("shoe.png", (96, 64)), ("dress.jpg", (80, 120)), ("disc.png", (50, 50))):
        a = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        p = os.path.join(tmp, name)
        Image.fromarray(a).save(p)
        files[name] = p
    p = os.path.join(tmp, "anim.gif")
    Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(p)
    files["anim.gif"] = p
    p = os.path.join(tmp, "big.png")
    Image.new("RGB", (300, 300), (10, 20, 30)).save(p)
    files["big.png"] = p
    return files


def test_embeddings(s, model, files):
    texts = ["红色连衣裙", "a red dress", "黑色高帮运动鞋 black high-top sneakers"]
    ref_t = cli_embed(model, sum([["--text", t] for t in texts], []))
    st, doc, _, r = s.embed({"model": "sail-tiny", "input": texts})
    got = vectors(doc) if st == 200 else np.zeros(0)
    check(st == 200 and np.array_equal(got, ref_t),
          "3 texts in one request: 200 and bit-identical to `sail embed` of the same 3 (float JSON)")
    check(st == 200 and doc["object"] == "list" and doc["model"] == "sail-tiny"
          and [d["index"] for d in doc["data"]] == [0, 1, 2] and all(d["object"] == "embedding" for d in doc["data"])
          and doc["usage"]["prompt_tokens"] == doc["usage"]["total_tokens"] > 6
          and r.getheader("Content-Type") == "application/json",
          "response shape as OpenAI's: object, data[i].object/index, model echoed, usage")
    st, doc, _, _ = s.embed({"input": texts[0], "encoding_format": "base64"})
    check(st == 200 and isinstance(doc["data"][0]["embedding"], str) and close(vectors(doc)[0], ref_t[0]),
          "a single string with encoding_format base64: little-endian float32, same vector")
    st, doc, _, _ = s.embed({"input": texts, "dimensions": 64})
    ref64 = cli_embed(model, sum([["--text", t] for t in texts], []) + ["--dim", 64])
    check(st == 200 and vectors(doc).shape == (3, 64) and np.allclose(vectors(doc), ref64, atol=1e-7),
          "dimensions 64: the re-normalised Matryoshka prefix, as `sail embed --dim 64`")

    shoe, dress = files["shoe.png"], files["dress.jpg"]
    ref_i = cli_embed(model, ["--image", shoe, "--image", dress])
    r = subprocess.run([SAIL, "embed", "--model", model, "--text", texts[2], "--image", shoe], capture_output=True)
    ref_j = np.array(json.loads(r.stdout)["data"][0]["embedding"], np.float32)
    body = {"input": [[image_part(data_url(shoe, "image/png"))],
                      [{"type": "image_url", "image_url": {"url": data_url(dress, "image/jpeg")}}],
                      [{"type": "text", "text": texts[2]}, image_part(data_url(shoe, "image/png"))],
                      texts[0]]}
    st, doc, _, _ = s.embed(body)
    got = vectors(doc) if st == 200 else np.zeros((4, 1))
    check(st == 200 and close(got[:2], ref_i),
          "image parts (PNG, JPEG data URLs): the vectors of `sail embed --image`")
    check(st == 200 and close(got[2], ref_j) and close(got[3], ref_t[0]),
          "a text+image part list is one joint input, equal to `sail embed --text T --image F`")
    st, doc, _, _ = s.embed({"input": [image_part(data_url(shoe, "image/png")),
                                       {"type": "text", "text": texts[2]}]})
    check(st == 200 and len(doc["data"]) == 1 and close(vectors(doc)[0], ref_j),
          "input given directly as one list of parts is one joint input")
    return ref_t


def test_batching(s, model):
    texts = ["商品 %d 号 item number %d" % (i, i * 7) for i in range(24)]
    ref = np.array([cli_embed(model, ["--text", t])[0] for t in texts])
    got = [None] * len(texts)

    def one(i):
        st, doc, _, _ = s.embed({"input": texts[i]})
        got[i] = vectors(doc)[0] if st == 200 else None

    th = [threading.Thread(target=one, args=(i,)) for i in range(len(texts))]
    for t in th:
        t.start()
    for t in th:
        t.join()
    ok = all(g is not None for g in got)
    diff = float(np.abs(np.array(got) - ref).max()) if ok else -1
    check(ok and diff <= TOL, "24 concurrent requests (batched): each vector equals its text embedded alone "
          "by `sail embed` (max |diff| %.1e)" % diff)
    st, _, data, _ = s.request("GET", "/metrics")
    m = {}
    for line in data.decode().splitlines():
        if line.startswith("sail_batch_size_count") or line.startswith("sail_batch_size_sum"):
            k, v = line.split()
            m[k] = float(v)
    count, total = m.get("sail_batch_size_count", 0), m.get("sail_batch_size_sum", 0)
    check(st == 200 and count > 0 and total / count > 1.5,
          "concurrent requests were coalesced: %d inputs in %d batches" % (total, count))


def test_errors(s, files):
    def err(st, doc, want_status, want_code=None, want_param=None, name=""):
        e = (doc or {}).get("error", {})
        ok = (st == want_status and isinstance(e.get("message"), str) and e.get("message")
              and set(e) == {"message", "type", "param", "code"} and e["type"] == (
                  "server_error" if want_status >= 500 else "invalid_request_error")
              and (want_code is None or e["code"] == want_code) and (want_param is None or e["param"] == want_param))
        check(ok, "%s -> %d %s" % (name, st, (e.get("message") or "")[:90]))

    st, doc, _, _ = s.embed("{not json")
    err(st, doc, 400, name="malformed JSON")
    st, doc, _, _ = s.embed(b'{"qwery": "\\u00e\xc9\x8d\x94\xdd\xc5\x9e\x98\x9a", "n": 0}}')  # fuzz_server S1
    err(st, doc, 400, name="malformed JSON with bytes that are not UTF-8 (quoted in the message)")
    st, doc, _, _ = s.embed({"input": "a", "model": "\u00e9" * 100})
    check(st == 200 and doc and doc.get("model", "").startswith("\u00e9") and len(doc["data"]) == 1,
          "a long non-ASCII model name (cut at 127 bytes, inside a character) still gets its vectors (%d)" % st)
    st, doc, _, _ = s.embed("")
    err(st, doc, 400, name="empty body")
    st, doc, _, _ = s.embed("[1, 2]")
    err(st, doc, 400, name="a JSON array instead of an object")
    st, doc, _, _ = s.embed({"model": "x"})
    err(st, doc, 400, "missing_required_parameter", "input", "missing input")
    st, doc, _, _ = s.embed({"input": []})
    err(st, doc, 400, None, "input", "empty input list")
    st, doc, _, _ = s.embed({"input": ""})
    err(st, doc, 400, None, "input", "empty string")
    st, doc, _, _ = s.embed({"input": 42})
    err(st, doc, 400, "invalid_type", "input", "input of a wrong type (number)")
    st, doc, _, _ = s.embed({"input": ["ok", None]})
    err(st, doc, 400, "invalid_type", "input[1]", "a null inside the input list")
    st, doc, _, _ = s.embed({"input": [[{"type": "audio", "data": "x"}]]})
    err(st, doc, 400, "invalid_type", "input[0]", "an unknown content part type")
    st, doc, _, _ = s.embed({"input": "x", "dimensions": 4096})
    err(st, doc, 400, "invalid_value", "dimensions", "dimensions over the model's")
    st, doc, _, _ = s.embed({"input": "x", "dimensions": "64"})
    err(st, doc, 400, "invalid_value", "dimensions", "dimensions as a string")
    st, doc, _, _ = s.embed({"input": "x", "encoding_format": "int8"})
    err(st, doc, 400, "invalid_value", "encoding_format", "unknown encoding_format")
    st, doc, _, _ = s.embed({"input": "x", "model": 3})
    err(st, doc, 400, "invalid_type", "model", "model of a wrong type")
    st, doc, _, _ = s.embed({"input": ["x"] * 9})
    err(st, doc, 400, "too_many_inputs", "input", "more inputs than --max-inputs 8")
    st, doc, _, _ = s.embed({"input": [[image_part("https://example.com/cat.png")]]})
    err(st, doc, 400, "remote_url_refused", "input[0]", "a remote https:// image URL")
    st, doc, _, _ = s.embed({"input": [[image_part("file:///etc/passwd")]]})
    err(st, doc, 400, "invalid_image_url", "input[0]", "a file:// URL")
    st, doc, _, _ = s.embed({"input": [[image_part("data:image/png;base64,iVBO%%%")]]})
    err(st, doc, 400, "invalid_base64", "input[0]", "bad base64")
    st, doc, _, _ = s.embed({"input": [[image_part(data_url(files["anim.gif"], "image/gif"))]]})
    err(st, doc, 400, "invalid_image", "input[0]", "an unsupported image format (GIF)")
    st, doc, _, _ = s.embed({"input": [[image_part("data:image/png;base64," + base64.b64encode(
        open(files["shoe.png"], "rb").read()[:200]).decode())]]})
    err(st, doc, 400, "invalid_image", "input[0]", "a truncated PNG")
    st, doc, _, _ = s.embed({"input": [[image_part(data_url(files["big.png"], "image/png"))]]})
    err(st, doc, 400, "image_too_large", "input[0]", "an image over --max-image-pixels")
    st, doc, _, _ = s.embed(b"{\"input\": \"" + b"a" * 70000 + b"\"}")
    err(st, doc, 413, "request_too_large", None, "a body over --max-body (Content-Length)")
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
    c.putrequest("POST", "/v1/embeddings")
    c.putheader("Transfer-Encoding", "chunked")
    c.endheaders()
    for _ in range(20):
        c.send(b"1000\r\n" + b"a" * 4096 + b"\r\n")
    c.send(b"0\r\n\r\n")
    r = c.getresponse()
    doc = json.loads(r.read())
    c.close()
    err(r.status, doc, 413, "request_too_large", None, "a chunked body over --max-body")
    st, doc, _, _ = s.embed({"input": "长" * 100})
    err(st, doc, 400, "context_length_exceeded", "input", "a text over the context with --no-truncate")
    st, doc, _, _ = s.request("GET", "/v1/nothing")
    err(st, doc, 404, "not_found", None, "an unknown path")
    st, doc, _, _ = s.request("GET", "/v1/embeddings")
    err(st, doc, 405, "method_not_allowed", None, "GET on /v1/embeddings")

    # Hostile bodies: mutations of a valid request never crash the server.
    rng = random.Random(5)
    seed = json.dumps({"input": ["红色", [image_part(data_url(files["disc.png"], "image/png")),
                                         {"type": "text", "text": "圆"}]], "dimensions": 32}).encode()
    statuses = set()
    for _ in range(150):
        b = bytearray(seed)
        for _ in range(rng.randint(1, 8)):
            op = rng.random()
            i = rng.randrange(len(b))
            if op < 0.4:
                b[i] = rng.randrange(256)
            elif op < 0.7:
                del b[i:i + rng.randint(1, 40)]
            else:
                b[i:i] = bytes(rng.choice([b"\"", b"[", b"{", b"\\u0000", b"-1e999", b"null", b"\xff"]))
        st, doc, _, _ = s.embed(bytes(b))
        statuses.add(st)
        if st != 200 and (st >= 500 or not doc or "error" not in doc):
            break
    alive = s.request("GET", "/healthz")[0] == 200
    check(alive and all(x == 200 or 400 <= x < 500 for x in statuses),
          "150 mutated requests: only 200s and 4xx with error bodies, server alive (statuses %s)" % sorted(statuses))


def test_api_key(model):
    env = dict(os.environ, SAIL_API_KEY="s3cret-key")
    s = Server(model, env=env)
    try:
        st, doc, _, _ = s.embed({"input": "x"})
        check(st == 401 and doc["error"]["code"] == "invalid_api_key" and doc["error"]["type"] == "invalid_request_error",
              "API key set: a request without one gets 401 invalid_api_key")
        st, doc, _, _ = s.embed({"input": "x"}, headers={"Authorization": "Bearer s3cret-kez"})
        check(st == 401 and "Incorrect" in doc["error"]["message"], "a wrong key gets 401")
        st, doc, _, _ = s.embed({"input": "x"}, headers={"Authorization": "Bearer s3cret-key"})
        check(st == 200 and len(doc["data"]) == 1, "the right bearer key gets 200")
        sts = [s.embed({"input": "x"}, headers={"Authorization": h})[0]
               for h in ("bearer s3cret-key", "BEARER  s3cret-key", "bEaReR s3cret-key")]
        check(sts == [200] * 3, "the scheme is case-insensitive (RFC 7235): bearer, BEARER (two spaces), bEaReR "
              "-> %s" % sts)
        sts = [s.embed({"input": "x"}, headers={"Authorization": h})[0]
               for h in ("Basic s3cret-key", "Bearers3cret-key", "bearer s3cret-ke")]
        check(sts == [401] * 3, "another scheme, no space after it, or a wrong key in lower case: 401 (%s)" % sts)
        check(s.request("GET", "/healthz")[0] == 200 and s.request("GET", "/metrics")[0] == 401,
              "/healthz needs no key; /metrics does")
        long_text = "长文本 long text " * 40
        st, doc, _, _ = s.embed({"input": long_text}, headers={"Authorization": "Bearer s3cret-key"})
        check(st == 200 and close(vectors(doc)[0], cli_embed(model, ["--text", long_text])[0])
              and doc["usage"]["prompt_tokens"] == 52,
              "without --no-truncate a text over the context is truncated to 52 tokens, as `sail embed` does")
    finally:
        s.stop()


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


def test_index(model, files, tmp):
    ix = os.path.join(tmp, "ix")
    s = Server(model, "--index", ix, "--batch-wait-ms", 2)
    killed = False
    try:
        st, doc, _, _ = s.request("POST", "/v1/search", {"text": "x"})
        check(st == 200 and doc["data"] == [], "search on a new, empty index: 200 and no results")
        items = [{"id": 1, "text": "红色连衣裙", "payload": {"category": "dress", "price": 199}},
                 {"id": 2, "text": "黑色高帮运动鞋", "payload": {"category": "shoes"}},
                 {"id": 3, "image": data_url(files["shoe.png"], "image/png"), "payload": {"category": "shoes"}},
                 {"text": "a red dress", "image": data_url(files["dress.jpg"], "image/jpeg"),
                  "payload": {"category": "dress"}}]
        st, doc, _, _ = s.request("POST", "/v1/items", {"items": items})
        ids = [d["id"] for d in doc["data"]] if st == 200 else []
        check(st == 200 and ids == [1, 2, 3, 4], "POST /v1/items: 4 items (text, image, joint); a missing id is assigned (%s)" % ids)
        st, doc, _, _ = s.request("POST", "/v1/search", {"text": "黑色高帮运动鞋", "k": 2})
        ref = cli_embed(model, ["--text", "黑色高帮运动鞋"])[0]
        check(st == 200 and [h["id"] for h in doc["data"]][:1] == [2] and abs(doc["data"][0]["score"] - 1) < 1e-5
              and len(doc["data"]) == 2 and doc["data"][0]["payload"]["category"] == "shoes"
              and doc["data"][0]["payload"]["modality"] == "text" and doc["data"][0]["object"] == "search_result",
              "search by an item's own text: that item first with score 1, k=2, payload kept")
        st, doc, _, _ = s.request("POST", "/v1/search", {"query": [image_part(data_url(files["shoe.png"], "image/png"))], "k": 1})
        check(st == 200 and doc["data"][0]["id"] == 3 and abs(doc["data"][0]["score"] - 1) < 1e-5,
              "search by an image (a content-part query): the image's item first")
        st, doc, _, _ = s.request("POST", "/v1/search", {"text": "红色连衣裙", "k": 10, "filter": {"category": "shoes"}})
        check(st == 200 and sorted(h["id"] for h in doc["data"]) == [2, 3], "a payload filter keeps only matching items")
        st, doc, _, _ = s.request("POST", "/v1/search", {"text": "x", "filter": {"price": 199}})
        check(st == 200 and [h["id"] for h in doc["data"]] == [1], "a numeric filter value")
        st, _, img, r = s.request("GET", "/v1/items/3/image")
        check(st == 200 and img == open(files["shoe.png"], "rb").read() and r.getheader("Content-Type") == "image/png",
              "GET /v1/items/3/image: the uploaded bytes, image/png")
        check(s.request("GET", "/v1/items/1/image")[0] == 404 and s.request("GET", "/v1/items/99/image")[0] == 404,
              "a text-only or unknown item has no image (404)")
        bad = [({"items": []}, "empty items"), ({"items": [{"id": -1, "text": "x"}]}, "a negative id"),
               ({"items": [{"text": "x", "payload": {"source": "/etc/passwd"}}]}, "a client-set payload source"),
               ({"items": [{"text": 5}]}, "text of a wrong type"), ({"items": [{"payload": {}}]}, "no text or image"),
               ({"items": [{"image": "https://x/y.png"}]}, "a remote image URL")]
        for body, name in bad:
            st, doc, _, _ = s.request("POST", "/v1/items", body)
            check(st == 400 and "error" in doc, "POST /v1/items with %s -> 400 %s" % (name, doc["error"]["message"][:70]))
        for body, name in (({"text": "x", "k": 0}, "k 0"), ({"text": "x", "filter": "a=b"}, "a filter string"),
                           ({"text": "x", "filter": {"a": "b,c"}}, "a filter value with a comma"), ({}, "no query")):
            st, doc, _, _ = s.request("POST", "/v1/search", body)
            check(st == 400 and "error" in doc, "POST /v1/search with %s -> 400" % name)
        st, doc, _, _ = s.request("DELETE", "/v1/items/2")
        check(st == 200 and doc == {"id": 2, "id_str": "2", "object": "item", "deleted": True}, "DELETE /v1/items/2")
        st, doc, _, _ = s.request("DELETE", "/v1/items/2")
        check(st == 404 and doc["error"]["code"] == "not_found", "deleting it again: 404")
        st, doc, _, _ = s.request("POST", "/v1/search", {"text": "黑色高帮运动鞋", "k": 10})
        check(2 not in [h["id"] for h in doc["data"]], "a deleted item is no longer found")
        st, doc, _, _ = s.request("POST", "/v1/items", {"items": [{"id": 50, "text": "持久 durable"}]})
        check(st == 200, "add item 50")
        s.p.kill()     # SIGKILL right after the response: the item must survive
        s.p.wait()
        killed = True
        s2 = Server(model, "--index", ix)
        try:
            st, doc, _, _ = s2.request("POST", "/v1/search", {"text": "持久 durable", "k": 1})
            h = s2.request("GET", "/healthz")[1]
            check(st == 200 and doc["data"][0]["id"] == 50 and h["index_items"] == 4,
                  "after SIGKILL and a restart the acknowledged item is there (durable before the response)")
            st, doc, _, _ = s2.request("POST", "/v1/items", {"items": [{"text": "next"}]})
            check(st == 200 and doc["data"][0]["id"] == 51, "ids assigned after a restart continue after the largest")
            m = s2.request("GET", "/metrics")[2].decode()
            check("sail_index_items 5" in m, "/metrics reports the items in the index")
            test_big_ids(s2)
        finally:
            rc = s2.stop()
        check(rc == 0 and "stopped" in s2.text(), "SIGTERM with an index: clean exit after flushing it")
    finally:
        if not killed:
            s.stop()
    h = Server(model, "--index", os.path.join(tmp, "hnsw-ix"), "--index-kind", "hnsw")
    try:
        texts = ["商品 %d 号" % i for i in range(30)]
        st, _, _, _ = h.request("POST", "/v1/items", {"items": [{"text": t} for t in texts]})
        st2, doc, _, _ = h.request("POST", "/v1/search", {"text": texts[17], "k": 3, "exact": False, "ef_search": 50})
        check(st == 200 and st2 == 200 and doc["data"][0]["id"] == 17 and abs(doc["data"][0]["score"] - 1) < 1e-5,
              "--index-kind hnsw: 30 items, an item's own text finds it first")
    finally:
        h.stop()
    st = Server(model)
    try:
        r = st.request("POST", "/v1/search", {"text": "x"})
        check(r[0] == 404 and r[1]["error"]["code"] == "no_index", "without --index, /v1/search is 404 no_index")
    finally:
        st.stop()


def test_big_ids(s):
    """Ids above 2^53 are not exact as JavaScript numbers (2^53+1 reads as
    2^53): every id in a response comes also as a string, and a request may
    give one as a string."""
    big, top = 2 ** 53 + 1, 2 ** 63 - 1
    st, doc, _, _ = s.request("POST", "/v1/items", {"items": [{"id": big, "text": "大号 big id"},
                                                              {"id": str(top), "text": "最大 top id"}]})
    got = [(d.get("id"), d.get("id_str")) for d in doc["data"]] if st == 200 else doc
    check(got == [(big, str(big)), (top, str(top))],
          "POST /v1/items: ids 2^53+1 (a number) and 2^63-1 (a decimal string) come back with id_str (%s)" % got)
    st, doc, _, _ = s.request("POST", "/v1/search", {"text": "大号 big id", "k": 1})
    hit = doc["data"][0] if st == 200 and doc["data"] else {}
    check(hit.get("id") == big and hit.get("id_str") == str(big),
          "POST /v1/search: a result's id_str is the exact decimal id (%s)" % hit.get("id_str"))
    st, doc, _, _ = s.request("DELETE", "/v1/items/%d" % top)
    check(st == 200 and doc.get("id_str") == str(top), "DELETE /v1/items/2^63-1: id_str in the response")
    for bad in ("12a", "", "9223372036854775808", "-1"):
        st, doc, _, _ = s.request("POST", "/v1/items", {"items": [{"id": bad, "text": "x"}]})
        check(st == 400 and doc["error"]["param"] == "items[0]", "an id string %r is refused (400)" % bad)


def model_metric(text, family, model, **labels):
    """The value of family{model="...", labels...} in a /metrics text, or None."""
    for line in text.splitlines():
        m = re.match(r'(\w+)\{(.*)\} (\S+)$', line)
        if not m or m.group(1) != family:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
        if got.get("model") == model and all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return None


def test_multi_model(model, vocab, files, tmp):
    """One server, several models (--model NAME=PATH repeated): /v1/models,
    each request's model by name with its own vectors and batcher, an
    unknown model a 404, the index with --index-model, per-model metrics."""
    other = os.path.join(tmp, "other-256.gguf")
    r = subprocess.run([SAIL, "init", "--config", "tiny", "--vocab", vocab, "--seed", "2", "--dim", "256", "-o", other],
                       capture_output=True)
    if not check(r.returncode == 0, "sail init: a second random model (seed 2, dim 256)", r.stderr.decode()[-300:]):
        return
    ix = os.path.join(tmp, "multi-ix")
    # alpha and alpha2 are one file loaded twice (two mmaps, two batchers).
    s = start(model, "--model", "beta=" + other, "--model", "alpha2=" + model, "--index", ix, "--index-model",
              "beta", "--batch-wait-ms", 20)
    if not s:
        return
    try:
        # Server() passes the first --model as a plain path: its name is the file's base name.
        names = ["tiny.gguf", "beta", "alpha2"]
        st, doc, _, _ = s.request("GET", "/v1/models")
        check(st == 200 and doc.get("object") == "list" and [m.get("id") for m in doc["data"]] == names
              and all(set(m) == {"id", "object", "created", "owned_by"} and m["object"] == "model"
                      and m["owned_by"] == "sail" and isinstance(m["created"], int) for m in doc["data"])
              and "model tiny.gguf, dim 512; model beta, dim 256; model alpha2, dim 512; index" in s.text(),
              "GET /v1/models lists the 3 models in OpenAI's shape, in --model order (%s)" % (doc or {}).get("data"))
        st, doc, _, _ = s.request("GET", "/v1/models/beta")
        check(st == 200 and doc.get("id") == "beta" and doc.get("object") == "model", "GET /v1/models/beta")
        st, doc, _, _ = s.request("GET", "/v1/models/gamma")
        e = (doc or {}).get("error", {})
        check(st == 404 and e.get("code") == "model_not_found" and e.get("type") == "invalid_request_error",
              "GET /v1/models/gamma (unknown): 404 model_not_found")
        check(s.request("POST", "/v1/models")[0] == 405, "POST /v1/models: 405")
        st, doc, _, _ = s.embed({"model": "gamma", "input": "x"})
        e = (doc or {}).get("error", {})
        check(st == 404 and e.get("code") == "model_not_found" and e.get("param") == "model"
              and "beta" in e.get("message", ""), "POST /v1/embeddings with an unknown model: 404 model_not_found, "
              "naming the served ones (%s)" % e.get("message"))
        h = s.request("GET", "/healthz")[1]
        check(h.get("model") == "tiny.gguf" and h.get("dim") == 512 and h.get("models") == names,
              "/healthz: the default model and the list of models")

        texts = ["红色连衣裙", "a red dress", "黑色高帮运动鞋 black high-top sneakers", "商品 7 号"]
        ref = {"tiny.gguf": cli_embed(model, sum([["--text", t] for t in texts], [])),
               "beta": cli_embed(other, sum([["--text", t] for t in texts], []))}
        ref["alpha2"] = ref["tiny.gguf"]
        st, doc, _, _ = s.embed({"input": texts[:2]})
        check(st == 200 and doc["model"] == "tiny.gguf" and close(vectors(doc), ref["tiny.gguf"][:2]),
              "a request without \"model\" gets the first (default) model's vectors")
        st, doc, _, _ = s.embed({"model": "beta", "input": [[image_part(data_url(files["shoe.png"], "image/png"))]],
                                 "dimensions": 128})
        ref_img = cli_embed(other, ["--image", files["shoe.png"], "--dim", 128])
        check(st == 200 and doc["model"] == "beta" and close(vectors(doc), ref_img),
              "model beta: an image with dimensions 128 equals `sail embed` of beta's file")
        st, doc, _, _ = s.embed({"model": "beta", "input": "x", "dimensions": 512})
        check(st == 400 and doc["error"]["param"] == "dimensions", "dimensions 512 on the 256-d model: 400")

        # Concurrent requests to every model: each answered with its own
        # model's vector; batches never mix models.
        sent = {n: 0 for n in names}
        jobs = [(names[i % 3], texts[i % len(texts)], i % len(texts)) for i in range(36)]
        got = [None] * len(jobs)

        def one(k):
            name, t, _ = jobs[k]
            st, doc, _, _ = s.embed({"model": name, "input": t})
            got[k] = (st, doc["model"] if st == 200 else None, vectors(doc)[0] if st == 200 else None)

        th = [threading.Thread(target=one, args=(k,)) for k in range(len(jobs))]
        for t in th:
            t.start()
        for t in th:
            t.join()
        for name, _, _ in jobs:
            sent[name] += 1
        bad = [k for k, (name, _, i) in enumerate(jobs)
               if not got[k] or got[k][0] != 200 or got[k][1] != name or not close(got[k][2], ref[name][i])]
        check(not bad, "36 concurrent requests over 3 models: every one 200 with its own model's vector "
              "(%d wrong)" % len(bad))
        text = s.request("GET", "/metrics")[2].decode()
        # Inputs so far: tiny.gguf 2 + 12, beta 1 + 12, alpha2 12.
        want = {"tiny.gguf": 2 + sent["tiny.gguf"], "beta": 1 + sent["beta"], "alpha2": sent["alpha2"]}
        sums = {n: model_metric(text, "sail_model_batch_size_sum", n) for n in names}
        counts = {n: model_metric(text, "sail_model_batch_size_count", n) for n in names}
        check(sums == {n: float(v) for n, v in want.items()} and all(counts[n] and counts[n] < sums[n] for n in names),
              "/metrics: each model's own batches (model=\"...\"), holding exactly its inputs, coalesced "
              "(sums %s, batches %s)" % (sums, counts))

        def counted(text):
            return (model_metric(text, "sail_model_requests_total", "beta", endpoint="/v1/embeddings",
                                 status="200") == 1 + sent["beta"]
                    and model_metric(text, "sail_model_requests_total", "alpha2", endpoint="/v1/embeddings",
                                     status="200") == sent["alpha2"])

        # A request is counted once its connection is done with it, which
        # may come a moment after the client has read the response.
        for _ in range(20):
            if counted(text):
                break
            time.sleep(0.05)
            text = s.request("GET", "/metrics")[2].decode()
        check(counted(text)
              and model_metric(text, "sail_model_info", "beta", dim="256") == 1
              and model_metric(text, "sail_model_queue_depth", "alpha2") == 0
              and 'sail_http_requests_total{endpoint="/v1/models",status="200"}' in text,
              "/metrics: requests per model and status, sail_model_info with dims, per-model queue depth")

        # A model busy with long requests does not hold up another: beta
        # answers while tiny.gguf works through 512 inputs (16 batches); with
        # one queue for both, it would wait behind all of them.
        burst = {}

        def slow(k):
            burst[k] = s.embed({"model": "tiny.gguf", "input": ["商品 %d 号 item number %d 长" % (i, k) * 3
                                                                  for i in range(256)]})[0], time.time()

        th = [threading.Thread(target=slow, args=(k,)) for k in range(2)]
        t0 = time.time()
        for t in th:
            t.start()
        time.sleep(0.1)
        st, doc, _, _ = s.embed({"model": "beta", "input": texts[1]})
        t_beta = time.time()
        for t in th:
            t.join()
        t_burst = max(b[1] for b in burst.values()) - t0
        check(st == 200 and close(vectors(doc)[0], ref["beta"][1]) and all(b[0] == 200 for b in burst.values())
              and t_beta - t0 < 0.5 * t_burst,
              "a request for beta is answered (%.2f s) while tiny.gguf still works through 512 inputs (%.2f s): "
              "a batcher per model" % (t_beta - t0, t_burst))

        # The index embeds with --index-model beta (256-d), whatever "model" says.
        st, doc, _, _ = s.request("POST", "/v1/items", {"items": [{"id": 1, "text": texts[0]},
                                                                  {"id": 2, "text": texts[2]}]})
        st2, doc2, _, _ = s.request("POST", "/v1/search", {"text": texts[2], "k": 2})
        check(st == 200 and st2 == 200 and doc2["model"] == "beta" and doc2["data"][0]["id"] == 2
              and abs(doc2["data"][0]["score"] - 1) < 1e-5
              and abs(doc2["data"][1]["score"] - float(np.dot(ref["beta"][0], ref["beta"][2]))) < 1e-5,
              "--index-model beta: items and queries are embedded by beta (scores are beta's cosines)")

        env = dict(os.environ, SAIL_URL="http://127.0.0.1:%d" % s.port, SAIL_BIN=SAIL,
                   SAIL_MODELS=json.dumps({"tiny.gguf": model, "beta": other, "alpha2": model}),
                   SAIL_DIMS=json.dumps({"tiny.gguf": 512, "beta": 256, "alpha2": 512}))
        run_node("models.mjs", env)
    finally:
        rc = s.stop()
    check(rc == 0, "the server of 3 models exits 0 on SIGTERM")

    # Start-up refusals: an index of another dimension than its model's, an
    # unknown --index-model, two models of one name.
    for args, want_rc, want, name in (
            (["--model", "beta=" + other, "--index", ix, "--index-model", "tiny.gguf"], 0, None,
             "a 256-d index with a 512-d --index-model (a Matryoshka prefix) is accepted"),
            (["--model", "beta=" + other, "--index", os.path.join(tmp, "ix"), "--index-model", "beta"], 1,
             "holds 512-d vectors but model beta", "a 512-d index with the 256-d --index-model beta"),
            (["--model", "beta=" + other, "--index", ix, "--index-model", "gamma"], 2, "--index-model gamma",
             "an unknown --index-model"),
            (["--model", "tiny.gguf=" + other], 2, "two --model options are named 'tiny.gguf'",
             "two models of one name"),
            (["--index-model", "beta"], 2, "--index-model goes with --index", "--index-model without --index")):
        if want_rc == 0:
            s2 = start(model, *args)
            if s2:
                st, doc, _, _ = s2.request("POST", "/v1/search", {"text": texts[2], "k": 1})
                check(s2.stop() == 0 and st == 200 and doc["model"] == "tiny.gguf", name)
            continue
        r = subprocess.run([SAIL, "serve", "--model", model, "--port", "0", "--threads", "1"] + args,
                           capture_output=True, timeout=30)
        err = r.stderr.decode(errors="replace")
        check(r.returncode == want_rc and want in err and "listening" not in err,
              "%s: exit %d at start-up: %s" % (name, r.returncode, err.strip().splitlines()[-1:]))


def test_page(model, files, tmp):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("skip - chromium is missing (run scripts/install-deps.sh): the page test is not run")
        return
    from PIL import Image
    # Images indexed by `sail index add` (hash ids above 2^53, paths as
    # sources), texts and a joint item added over HTTP.
    folder = os.path.join(tmp, "catalog")
    os.makedirs(folder)
    Image.new("RGB", (40, 30), (40, 180, 60)).save(os.path.join(folder, "green.ppm"))
    shutil.copy(files["shoe.png"], folder)
    shutil.copy(files["disc.png"], folder)
    ix = os.path.join(tmp, "page-ix")
    r = subprocess.run([SAIL, "index", "add", "--index", ix, "--model", model, "--kind", "exact", folder],
                       capture_output=True)
    if r.returncode:
        print("# " + r.stderr.decode(errors="replace")[-400:])
    check(r.returncode == 0, "page fixture: `sail index add` of a folder of 3 images")
    s = Server(model, "--index", ix)
    try:
        items = [{"text": "红色连衣裙"},
                 {"text": "连衣裙 dress photo", "image": data_url(files["dress.jpg"], "image/jpeg")},
                 {"text": "黑色高帮运动鞋"}]
        st, _, _, _ = s.request("POST", "/v1/items", {"items": items})
        st2, doc, _, _ = s.request("POST", "/v1/search", {"image": data_url(files["shoe.png"], "image/png"), "k": 1})
        hit = doc["data"][0] if st2 == 200 else {}
        img = s.request("GET", hit.get("image_url", "/none"))[2]
        check(st == 200 and hit.get("id", 0) > 2 ** 53 and hit.get("payload", {}).get("modality") == "image"
              and img == open(files["shoe.png"], "rb").read(),
              "an image indexed by `sail index add` is found by the server and served from its path (id %s)"
              % hit.get("id"))
        shots = os.path.join(os.path.abspath(os.environ.get("BUILD", "build")), "test-output")
        env = dict(os.environ, SAIL_URL="http://127.0.0.1:%d" % s.port, SAIL_FIXTURES=json.dumps(files),
                   SAIL_SHOTS=shots, SAIL_CHROMIUM=chromium)
        run_node("page.mjs", env)
    finally:
        s.stop()


def run_node(script, env):
    """Runs a tests/server/*.mjs file, echoing its TAP lines."""
    if not shutil.which("node") or not shutil.which("npm"):
        print("skip - node/npm are missing (run scripts/install-deps.sh): %s not run" % script)
        return
    d = os.path.join(HERE, "server")
    if not os.path.isdir(os.path.join(d, "node_modules", "openai")) or \
            not os.path.isdir(os.path.join(d, "node_modules", "playwright-core")):
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=d, capture_output=True, timeout=300)
        if r.returncode:
            print("skip - npm ci in tests/server failed (no registry?): %s not run: %s"
                  % (script, r.stderr.decode(errors="replace").strip().splitlines()[-1:]))
            return
    r = subprocess.run(["node", os.path.join(d, script)], capture_output=True, env=env, timeout=300)
    out = r.stdout.decode(errors="replace")
    print(out, end="")
    if r.returncode and "not ok" not in out:
        check(False, "%s exited %d: %s" % (script, r.returncode, r.stderr.decode(errors="replace")[-800:]))
    tap.add(out.count("\nok ") + out.startswith("ok "), out.count("not ok "))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        vocab = tap.vocab(tmp, "abcdefghijklmnopqrstuvwxyz0123456789红色连衣裙黑高帮运动鞋商品号长圆", ["item", "number"])
        model = os.path.join(tmp, "tiny.gguf")
        r = subprocess.run([SAIL, "init", "--config", "tiny", "--vocab", vocab, "--seed", "1", "-o", model],
                           capture_output=True)
        if r.returncode:
            check(False, "sail init: " + r.stderr.decode())
            return 1
        files = make_fixtures(tmp)
        r = subprocess.run([SAIL, "serve", "--help"], capture_output=True)
        check(r.returncode == 0 and b"usage: sail serve" in r.stdout
              and all(o in r.stdout for o in (b"--tls-cert FILE", b"--tls-key FILE", b"--header-timeout S",
                                              b"--max-connections-per-ip N", b"default 256", b"default 10",
                                              b"--model [NAME=]M", b"--index-model NAME", b"GET /v1/models")),
              "sail serve --help, with the TLS, header-timeout, per-address limit and several-model options")
        r = subprocess.run([SAIL, "serve"], capture_output=True)
        check(r.returncode == 2 and b"--model is required" in r.stderr, "sail serve without --model: exit 2")
        r = subprocess.run([SAIL, "serve", "--model", os.path.join(tmp, "none.gguf"), "--port", "0"],
                           capture_output=True, timeout=30)
        check(r.returncode == 1 and b"none.gguf" in r.stderr, "a missing model file: exit 1 naming it")

        s = Server(model, "--max-inputs", 8, "--max-body", 65536, "--max-image-pixels", 250 * 250,
                   "--batch-wait-ms", 30, "--no-truncate")
        try:
            st, doc, _, _ = s.request("GET", "/healthz")
            check(st == 200 and doc["status"] == "ok" and doc["dim"] == 512, "GET /healthz")
            st, _, page, r = s.request("GET", "/")
            check(st == 200 and r.getheader("Content-Type").startswith("text/html") and b"<html" in page,
                  "GET / serves the page compiled into the binary")
            test_embeddings(s, model, files)
            test_batching(s, model)
            test_errors(s, files)
            # A client that leaves mid-body gets no response: that is not an
            # HTTP status (it was counted as status="0").
            c = socket.create_connection(("127.0.0.1", s.port))
            c.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"inp")
            time.sleep(0.2)
            c.close()
            time.sleep(0.3)
            text = s.request("GET", "/metrics")[2].decode()
            check('status="0"' not in text and re.search(r'sail_http_requests_aborted_total\{endpoint="/v1/embeddings",'
                                                         r'reason="client_closed"\} [1-9]', text),
                  "a client that closes mid-body is counted under sail_http_requests_aborted_total"
                  "{reason=\"client_closed\"}, not as status=\"0\"")
            st, _, data, r = s.request("GET", "/metrics")
            text = data.decode()
            check(st == 200 and r.getheader("Content-Type").startswith("text/plain; version=0.0.4")
                  and 'sail_http_requests_total{endpoint="/v1/embeddings",status="200"}' in text
                  and 'sail_http_requests_total{endpoint="/v1/embeddings",status="400"}' in text
                  and 'sail_http_request_duration_seconds_bucket{endpoint="/v1/embeddings",le="+Inf"}' in text
                  and "sail_queue_depth 0" in text and "sail_batch_size_bucket{le=\"8\"}" in text,
                  "GET /metrics: Prometheus text with requests by status, latency histogram, batches, queue")
            env = dict(os.environ, SAIL_URL="http://127.0.0.1:%d" % s.port, SAIL_BIN=SAIL, SAIL_MODEL=model,
                       SAIL_FIXTURES=json.dumps(files))
            run_node("openai.mjs", env)
        finally:
            rc = s.stop()
        check(rc == 0, "the server exits 0 on SIGTERM")
        test_api_key(model)
        test_slow_client_and_shutdown(model)
        test_connection_limits(model)
        test_idle_flood(model)
        test_fd_limit(model)
        test_tls(model, tmp)
        test_nonfinite(model, tmp)
        test_index(model, files, tmp)
        test_multi_model(model, vocab, files, tmp)
        test_page(model, files, tmp)
    for rep in SANITIZER_REPORTS:
        print("# " + rep.replace("\n", "\n# "))
    check(not SANITIZER_REPORTS, "no sanitizer report in any server's log (%d with reports)" % len(SANITIZER_REPORTS))
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
