"""``/healthz``, ``/readyz`` and ``/metrics`` on ``[daemon] listen``, on a thread of their own."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from backup_agent.errors import ConfigError

log = logging.getLogger(__name__)
Check = Callable[[], tuple[bool, dict[str, Any]]]


class HealthServer:
    """Serves the probes; ``health`` and ``ready`` say (ok, details), ``metrics`` the exposition."""

    def __init__(self, host: str, port: int, health: Check, ready: Check,
                 metrics: Callable[[], bytes]) -> None:
        routes: dict[str, Callable[[], tuple[int, str, bytes]]] = {
            "/healthz": lambda: _json(*health()),
            "/readyz": lambda: _json(*ready()),
            "/metrics": lambda: (200, CONTENT_TYPE_LATEST, metrics()),
        }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                route = routes.get(self.path.split("?", 1)[0])
                try:
                    status, ctype, body = route() if route else (404, "text/plain", b"not found\n")
                except Exception as exc:  # a probe's bug answers 500, it never kills the server
                    log.error("%s: %s", self.path, type(exc).__name__)
                    status, ctype, body = 500, "text/plain", b"internal error\n"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # a scrape every 15 s is not news

        try:
            self.server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise ConfigError(f"daemon.listen: cannot listen on {host}:{port}: "
                              f"{exc.strerror or exc}") from None
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="http", daemon=True)

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host!s}:{port}" if isinstance(host, str) else f"{host.decode()}:{port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _json(ok: bool, details: dict[str, Any]) -> tuple[int, str, bytes]:
    body = json.dumps({"ok": ok, **details}, sort_keys=True).encode() + b"\n"
    return (200 if ok else 503), "application/json", body
