"""A fault-injecting HTTP proxy in front of a real simulator, over real sockets.

``FaultProxy(upstream, fault, path)`` forwards every request to ``upstream`` and answers with
its answer, except the requests whose path contains ``path``: the first ``count`` of those get
``fault`` instead (``None`` forwards everything). So a fault lands mid-run, on the request
that matters to the job (the backup download, the room list, the restore upload), after the
job has started and has done its first requests through the same proxy.

Faults: ``503`` and ``429`` (``Retry-After: 1``) answers, ``429-bare`` (no ``Retry-After``),
``429-long`` (``Retry-After: 3600``, past any sane cap), ``cut`` (the upstream's headers, half
its body, then the connection closed), ``corrupt`` (the upstream's answer with bytes flipped
in its middle: same length, another sha256), ``garbage`` (200 with 4 KiB of bytes that are not the
answer), ``stall`` (nothing for longer than the client's timeout), ``trickle`` (the upstream's
answer, 64 bytes every 0.3 s: each read arrives within the timeout, the whole answer never
within its deadline), ``hold`` (the answer held until ``release()``: a signal lands mid-run).

``tls="untrusted"`` serves HTTPS with a throwaway self-signed certificate that no client
trusts (the URL is ``https://``); ``tls="wrong host"`` with one for another host name, whose
``ca_file`` a client may trust. ``handshakes`` counts the connections a client opened, so a
test can tell one refused handshake from a retry storm.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import ssl
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from backup_agent.sim.tls import LOOPBACK, self_signed, server_context

FAULTS = ("503", "429", "429-bare", "429-long", "cut", "corrupt", "garbage", "stall", "trickle",
          "hold")
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(parts)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _any(self) -> None:
        body = self._body()
        proxy = self.server.proxy
        fault = proxy.take(self.path)
        if fault in ("503", "429", "429-bare", "429-long", "garbage"):
            return self._canned(fault)
        if fault == "stall":
            time.sleep(proxy.stall_seconds)
            self.close_connection = True
            return None
        if fault == "hold":
            proxy.held.set()
            proxy.release_event.wait(60)
            if proxy.drop_held:  # the client was killed before the node got the request
                self.close_connection = True
                return None
        status, headers, data = proxy.forward(self.command, self.path, dict(self.headers), body)
        if fault == "corrupt" and data:
            mid = len(data) // 2
            data = data[:mid] + bytes(b ^ 0xFF for b in data[mid:mid + 16]) + data[mid + 16:]
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in _HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if fault == "cut":
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)
            self.close_connection = True
        elif fault == "trickle":
            for i in range(0, len(data), 64):
                self.wfile.write(data[i:i + 64])
                self.wfile.flush()
                time.sleep(0.3)
        else:
            self.wfile.write(data)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _any

    def _canned(self, fault: str) -> None:
        status, body, extra = {"503": (503, b'{"error": "busy"}', {}),
                               "429": (429, b'{"error": "slow down"}', {"Retry-After": "1"}),
                               "429-bare": (429, b'{"error": "slow down"}', {}),
                               "429-long": (429, b'{"error": "slow down"}', {"Retry-After": "3600"}),
                               "garbage": (200, os.urandom(4096), {})}[fault]
        self.send_response(status)
        for k, v in {"Content-Type": "application/json", **extra}.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    proxy: FaultProxy

    tls: ssl.SSLContext | None = None
    handshakes = 0

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        if self.tls is None:
            return sock, addr
        self.handshakes += 1
        sock.settimeout(5)  # a client that never finishes its handshake cannot hold the proxy
        try:  # a refused handshake raises here: socketserver drops the connection
            wrapped = self.tls.wrap_socket(sock, server_side=True)
            wrapped.settimeout(None)
            return wrapped, addr
        except OSError:
            sock.close()
            raise

    def handle_error(self, request: object, client_address: object) -> None:
        """A client hanging up on a fault is what the matrix wants."""


class FaultProxy:
    """``with FaultProxy(sim.url, "cut", "system_backup") as p: p.url``."""

    def __init__(self, upstream: str, fault: str | None = None, path: str = "/api/",
                 count: int = 10**6, stall_seconds: float = 1.5, tls: str | None = None) -> None:
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}")
        up = urlsplit(upstream)
        self.upstream = (up.hostname or "127.0.0.1", up.port or 80)
        self.fault, self.path, self.remaining, self.stall_seconds = fault, path, count, stall_seconds
        self.hits = 0
        self.drop_held = False
        self.held, self.release_event = threading.Event(), threading.Event()
        self._lock = threading.Lock()
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.proxy = self
        self._certs: tempfile.TemporaryDirectory[str] | None = None
        self.ca_file: Path | None = None
        if tls is not None:
            if tls not in ("untrusted", "wrong host"):
                raise ValueError(f"unknown tls {tls!r}")
            self._certs = tempfile.TemporaryDirectory(prefix="faultproxy-tls-")
            names = ("mgr01.elsewhere.example",) if tls == "wrong host" else LOOPBACK
            self.ca_file, key = self_signed(Path(self._certs.name), datetime.now(UTC), names)
            self.httpd.tls = server_context(self.ca_file, key)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def take(self, path: str) -> str | None:
        """The fault this request gets, if any (and count it)."""
        with self._lock:
            if self.fault is None or self.path not in path or self.remaining <= 0:
                return None
            self.remaining -= 1
            self.hits += 1
            return self.fault

    def forward(self, method: str, path: str, headers: dict[str, str],
                body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in _HOP}
            conn.request(method, path, body=body, headers=sent)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def release(self, drop: bool = False) -> None:
        """Let held requests go on to the node, or (``drop``) close them unanswered."""
        self.drop_held = drop
        self.release_event.set()

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release(drop=True)
        with contextlib.suppress(Exception):
            self.httpd.shutdown()
        self.httpd.server_close()
        if self._certs is not None:
            self._certs.cleanup()

    @property
    def handshakes(self) -> int:
        """Connections opened to a ``tls`` proxy (each a handshake the client tried)."""
        return self.httpd.handshakes
