"""What the `sail serve` tests share: a server on a free loopback port
spoken to over HTTP, the tiny model and image fixtures they run on, the
tests/server/*.mjs runner, and the check that no server logged a sanitizer
report."""
import base64
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
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



def setup(tmp):
    """(vocab, model, files): a random-weight tiny model and image fixtures in tmp."""
    vocab = tap.vocab(tmp, "abcdefghijklmnopqrstuvwxyz0123456789红色连衣裙黑高帮运动鞋商品号长圆", ["item", "number"])
    model = os.path.join(tmp, "tiny.gguf")
    r = subprocess.run([SAIL, "init", "--config", "tiny", "--vocab", vocab, "--seed", "1", "-o", model],
                       capture_output=True)
    if r.returncode:
        raise RuntimeError("sail init: " + r.stderr.decode())
    return vocab, model, make_fixtures(tmp)


def finish():
    """The summary, after checking that no server logged a sanitizer report (make asan)."""
    for rep in SANITIZER_REPORTS:
        print("# " + rep.replace("\n", "\n# "))
    check(not SANITIZER_REPORTS, "no sanitizer report in any server's log (%d with reports)" % len(SANITIZER_REPORTS))
    return tap.summary()
