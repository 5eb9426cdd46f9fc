"""A hostile Management Node of the project's own: a loopback HTTP server serving one attack.

``HostileNode(attack)`` answers every request with ``attack(request, node)``, which writes the
raw answer itself (so it can lie about sizes, trickle, gzip-bomb or redirect). ``node.other``
is a second server standing for "another host": it records every request, so a test can
assert that no credential, passphrase or request ever reached it.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Seen:
    """One request as a server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Raw(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _any(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        seen = Seen(self.command, self.path, dict(self.headers.items()), body)
        self.server.node.seen.append(seen)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.server.node.attack(self, self.server.node)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _any

    def answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        """A complete answer: status, headers (JSON unless told), exact Content-Length."""
        self.send_response(status)
        for k, v in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(k, v)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


Attack = Callable[[Raw, "HostileNode"], None]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    node: HostileNode

    def handle_error(self, request: object, client_address: object) -> None:
        """The client hanging up on an attack is what the test wants."""


@dataclass
class HostileNode:
    """``with HostileNode(attack) as node: node.url``; ``node.other.seen`` must stay empty."""

    attack: Attack
    seen: list[Seen] = field(default_factory=list)
    other: HostileNode | None = None

    def __post_init__(self) -> None:
        self.httpd = _Server(("127.0.0.1", 0), Raw)
        self.httpd.node = self
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                        daemon=True)

    def __enter__(self) -> HostileNode:
        if self.other is None and self.attack is not _record:
            self.other = HostileNode(_record).__enter__()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.other is not None:
            self.other.__exit__()
        self.httpd.shutdown()
        self.httpd.server_close()


def _record(h: Raw, node: HostileNode) -> None:
    h.answer(200, page([]))


# -- building blocks of attacks -----------------------------------------------------------------
def page(objects: list[dict[str, Any]], total: int | None = None, nxt: str | None = None) -> bytes:
    meta = {"limit": max(len(objects), 1), "offset": 0, "next": nxt, "previous": None,
            "total_count": len(objects) if total is None else total}
    return json.dumps({"meta": meta, "objects": objects}).encode()


def links_elsewhere(form: str) -> Attack:
    """A first page whose ``meta.next`` points at the other host, spelled ``form``
    (``{other}`` is replaced by the other host's ``127.0.0.1:PORT``)."""
    def attack(h: Raw, node: HostileNode) -> None:
        assert node.other is not None
        nxt = form.replace("{other}", f"127.0.0.1:{node.other.port}")
        h.answer(200, page([{"id": 1, "resource_uri": "/x/1/"}], total=2, nxt=nxt))
    return attack


def redirects_elsewhere(status: int) -> Attack:
    def attack(h: Raw, node: HostileNode) -> None:
        assert node.other is not None
        h.answer(status, b"", {"Location": f"http://127.0.0.1:{node.other.port}{h.path}"})
    return attack


def gzip_bomb(decoded_bytes: int) -> Attack:
    blob = gzip.compress(b" " * decoded_bytes, compresslevel=9)

    def attack(h: Raw, node: HostileNode) -> None:
        h.answer(200, blob, {"Content-Encoding": "gzip"})
    return attack


def trickle(seconds_per_byte: float, body: bytes) -> Attack:
    def attack(h: Raw, node: HostileNode) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        for i in range(len(body)):
            h.wfile.write(body[i:i + 1])
            h.wfile.flush()
            time.sleep(seconds_per_byte)
    return attack


def paced(chunk: int, seconds: float, body: bytes) -> Attack:
    """``body`` ``chunk`` bytes at a time, one every ``seconds``: slow, but steady."""
    def attack(h: Raw, node: HostileNode) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        for i in range(0, len(body), chunk):
            h.wfile.write(body[i:i + chunk])
            h.wfile.flush()
            time.sleep(seconds)
    return attack


def endless_next() -> Attack:
    def attack(h: Raw, node: HostileNode) -> None:
        n = len(node.seen)
        h.answer(200, page([{"id": n, "resource_uri": f"/x/{n}/"}], total=None,
                           nxt=f"/api/admin/configuration/v1/conference/?page={n + 1}"))
    return attack


def claims_total(total: int) -> Attack:
    def attack(h: Raw, node: HostileNode) -> None:
        h.answer(200, page([{"id": 1, "resource_uri": "/x/1/"}], total=total, nxt="/p/?o=1"))
    return attack


def deep_json(depth: int) -> Attack:
    def attack(h: Raw, node: HostileNode) -> None:
        h.answer(200, b"[" * depth + b"]" * depth)
    return attack


def huge_error(size: int) -> Attack:
    def attack(h: Raw, node: HostileNode) -> None:
        h.answer(400, json.dumps({"error": "x" * size}).encode())
    return attack


def retry_after(seconds: int) -> Attack:
    def attack(h: Raw, node: HostileNode) -> None:
        h.answer(429, b"{}", {"Retry-After": str(seconds)})
    return attack


def cut_mid_body(body: bytes) -> Attack:
    """The headers promise all of ``body``; half of it comes, then the connection closes."""
    def attack(h: Raw, node: HostileNode) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body[:len(body) // 2])
        h.wfile.flush()
        h.close_connection = True
    return attack
