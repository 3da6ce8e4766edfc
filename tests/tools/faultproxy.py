"""A fault-injecting HTTP proxy for the registry stress tests.

It sits on 127.0.0.1 between mkimage and a real registry and forwards every
request as it is (the Host header too, so the registry's Location headers
point back at the proxy), except the ones it is told to break:

  fail_every=N       answer 503 with Retry-After: 0 to every Nth request
  reset_every=M      reset the connection (RST) instead of answering every Mth
  reset_reused=R     reset every Rth request that comes on a connection
                     already used (a balancer dropping kept-alive ones): the
                     client learns it only after it sent the request's body;
                     only requests whose path has reused_path when it is set
  stall_every=K      hold every Kth request for stall_seconds, then close
                     (at most stall_limit times when that is set); a client
                     that gives up first is counted (stall_client_closed) and
                     how long it waited kept (.stall_waits)
  truncate_every=T   send every Tth response's headers and half its body, close
  corrupt_blobs=True flip one byte in the body of every blob GET
  always=STATUS      answer STATUS to everything (a registry that always fails)

Counts are kept per kind in .stats (requests, and each fault injected).
Request loops are the client's; the proxy only answers, on loopback."""
import http.client
import select
import socket
import socketserver
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler

HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
       "upgrade", "content-length"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _reset(self):
        # SO_LINGER 0: close() sends RST, as a dropped connection does.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True

    def _client_closes_within(self, seconds):
        """Waits up to seconds (or the proxy's end) for the client to close
        the connection: True if it did."""
        end = time.monotonic() + seconds
        stop = self.server.proxy.stop_event
        while not stop.is_set():
            left = end - time.monotonic()
            if left <= 0:
                return False
            if select.select([self.connection], [], [], min(left, 0.5))[0]:
                try:
                    if self.connection.recv(1, socket.MSG_PEEK) == b"":
                        return True
                except OSError:  # reset by the client
                    return True
                stop.wait(min(left, 0.5))  # it sent more: not a close
        return False

    def _send(self, status, headers, body, cut=False):
        self.send_response_only(status)
        for k, v in headers:
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        if cut:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":  # a body after a HEAD answer would be the next answer
            body = b""
        self.wfile.write(body[: len(body) // 2] if cut else body)
        if cut:
            self.wfile.flush()
            self._reset()

    def _handle(self):
        p = self.server.proxy
        body = self._body()
        n = p.count("requests")
        self.served = getattr(self, "served", 0) + 1
        if p.reset_reused and self.served > 1 and p.reused_path in self.path and \
                p.next_reused() % p.reset_reused == 0:
            p.count("reset_reused")
            return self._reset()
        if p.always:
            p.count("always")
            return self._send(p.always, [("Content-Type", "application/json")],
                              b'{"errors":[{"code":"UNAVAILABLE","message":"injected"}]}')
        if p.reset_every and n % p.reset_every == 0:
            p.count("reset")
            return self._reset()
        if p.stall_every and n % p.stall_every == 0 and \
                (not p.stall_limit or p.stats.get("stall", 0) < p.stall_limit):
            p.count("stall")
            t = time.monotonic()
            if self._client_closes_within(p.stall_seconds):
                p.count("stall_client_closed")
            p.stall_waits.append(time.monotonic() - t)
            return self._reset()
        if p.fail_every and n % p.fail_every == 0:
            p.count("503")
            return self._send(503, [("Retry-After", "0"), ("Content-Type", "application/json")],
                              b'{"errors":[{"code":"UNAVAILABLE","message":"injected"}]}')
        up = http.client.HTTPConnection("127.0.0.1", p.upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        up.request(self.command, self.path, body=body if body or self.command in
                   ("PUT", "POST", "PATCH") else None, headers=headers)
        r = up.getresponse()
        data = r.read() if self.command != "HEAD" else b""
        hdrs = r.getheaders()
        up.close()
        if self.command == "HEAD":
            self.send_response_only(r.status)
            for k, v in hdrs:
                if k.lower() not in HOP - {"content-length"}:
                    self.send_header(k, v)
            return self.end_headers()
        if p.corrupt_blobs and self.command == "GET" and "/blobs/sha256:" in self.path and data:
            p.count("corrupt")
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        if p.truncate_every and n % p.truncate_every == 0 and len(data) > 1:
            p.count("truncate")
            return self._send(r.status, hdrs, data, cut=True)
        self._send(r.status, hdrs, data)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class FaultProxy:
    def __init__(self, upstream_port, fail_every=0, reset_every=0, stall_every=0,
                 stall_seconds=0.0, truncate_every=0, corrupt_blobs=False, always=0,
                 stall_limit=0, reset_reused=0, reused_path=""):
        self.upstream = upstream_port
        self.fail_every, self.reset_every = fail_every, reset_every
        self.stall_every, self.stall_seconds = stall_every, stall_seconds
        self.stall_limit = stall_limit
        self.reset_reused, self.reused_path = reset_reused, reused_path
        self.truncate_every, self.corrupt_blobs, self.always = truncate_every, corrupt_blobs, always
        self.stats = {}
        self.stall_waits = []
        self._reused = 0
        self._lock = threading.Lock()
        self.stop_event = threading.Event()
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.proxy = self
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def next_reused(self):
        with self._lock:
            self._reused += 1
            return self._reused

    def count(self, kind):
        with self._lock:
            self.stats[kind] = self.stats.get(kind, 0) + 1
            return self.stats[kind]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.server.shutdown()
        self.server.server_close()
