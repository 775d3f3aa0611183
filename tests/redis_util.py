"""What the Redis tests and benchmark share (not a test itself): a minimal
RESP2 client (Debian's python3 has no redis package), redis-server
processes on loopback ports in temporary directories, and Redis's CRC-64
(to re-sign a DUMP payload after damaging it on purpose), the module's
path and the random vectors the tests load."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import numpy as np

from tap import BUILD, check, free_port, summary


class RespError(Exception):
    """An error reply (returned, not raised, by Conn.call)."""


class Conn:
    def __init__(self, port, timeout=30):
        self.s = socket.create_connection(("127.0.0.1", port), timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.s.makefile("rb")

    def close(self):
        self.f.close()
        self.s.close()

    @staticmethod
    def encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            elif isinstance(a, int):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def read(self):
        line = self.f.readline()
        if not line:
            raise ConnectionError("connection closed")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RespError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            return data[:-2]
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ConnectionError("bad reply %r" % line)

    def call(self, *args):
        self.s.sendall(self.encode(args))
        return self.read()

    def pipeline(self, commands):
        """Send every command, then read every reply (in order)."""
        self.s.sendall(b"".join(self.encode(c) for c in commands))
        return [self.read() for _ in commands]


def free_ports(n):
    """n distinct free loopback ports (cluster bus ports, +10000, free too)."""
    ports = []
    while len(ports) < n:
        p = free_port()
        if p + 10000 > 65535 or p in ports:
            continue
        b = socket.socket()
        try:
            b.bind(("127.0.0.1", p + 10000))
        except OSError:
            continue
        finally:
            b.close()
        ports.append(p)
    return ports


def find_redis():
    for name in ("redis-server", "/usr/bin/redis-server"):
        p = shutil.which(name)
        if p:
            return p
    return None


class Server:
    """A redis-server with the sail module on a loopback port, its files in
    a temporary directory (removed by stop)."""

    def __init__(self, module, port=None, args=(), threads=2, dir=None):
        self.port = port or free_ports(1)[0]
        self.own_dir = dir is None
        self.dir = dir or tempfile.mkdtemp(prefix="sail-redis-")
        self.module, self.args, self.threads = module, list(args), threads
        self.proc = None
        self.start()

    def start(self):
        # SAIL_REDIS_WRAP: a command to run redis-server under (e.g. valgrind)
        cmd = os.environ.get("SAIL_REDIS_WRAP", "").split() + [find_redis(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
               "--logfile", os.path.join(self.dir, "redis.log"), "--save", "", "--enable-debug-command", "local",
               "--loadmodule", self.module, "THREADS", str(self.threads)] + [str(a) for a in self.args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.time() + (120 if os.environ.get("SAIL_REDIS_WRAP") else 20)
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited with %s: %s" % (self.proc.returncode, self.log()[-600:]))
            try:
                c = Conn(self.port, 2)
                r = c.call("PING")
                c.close()
                if r == "PONG":
                    return
            except (OSError, ConnectionError):
                pass
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer on port %d" % self.port)

    def conn(self):
        return Conn(self.port)

    def log(self):
        try:
            return open(os.path.join(self.dir, "redis.log")).read()
        except OSError:
            return ""

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stop(self):
        self.kill()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def _crc64_table():
    poly = 0x95AC9329AC4BC9B5  # Jones polynomial 0xad93d23594c935a9, reflected
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        t.append(c)
    return t


_T = _crc64_table()


def crc64(data, crc=0):
    """Redis's CRC-64 (crc64.c: Jones, reflected, no final xor)."""
    for b in data:
        crc = _T[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


MODULE = os.path.abspath(os.path.join(BUILD, "sail-redis.so"))
D = 32
K = 10


def ready():
    """Whether redis-server, redis-cli and the module are there; prints the
    skip (or fails a check) when not."""
    if not find_redis() or not shutil.which("redis-cli"):
        print("skip - redis-server / redis-cli are not installed (Debian: redis-server redis-tools; "
              "scripts/install-deps.sh)")
        return False
    return check(os.path.exists(MODULE), "%s is built (make)" % MODULE)


def blob(v):
    return np.asarray(v, "<f4").tobytes()


def hits(reply):
    """SAIL.SEARCH's reply as [(id, float32 score, payload dict)]."""
    return [(int(h[0]), np.float32(float(h[1])), json.loads(h[2]) if len(h) > 2 else None) for h in reply]


def data(n, seed):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((16, D)).astype(np.float32)
    x = centres[rng.integers(0, 16, n)] + 0.4 * rng.standard_normal((n, D)).astype(np.float32)
    return x.astype(np.float32)


def run(on_node, rest=None):
    """A Redis test's main: on_node(srv, tmp) against one node with the
    module loaded (it must not crash), then rest(tmp) with servers of its
    own; tmp is a temporary folder, removed after. Returns the summary."""
    if not ready():
        return summary()
    tmp = tempfile.mkdtemp(prefix="sail-redis-test-")
    srv = None
    try:
        t = time.time()
        srv = Server(MODULE)
        on_node(srv, tmp)
        check(srv.proc.poll() is None and "crashed" not in srv.log(), "the node never crashed")
        srv.stop()
        srv = None
        if rest:
            rest(tmp)
        print("# %.1f s" % (time.time() - t))
    finally:
        if srv:
            srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()
