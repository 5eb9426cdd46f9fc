"""The web app on ``[daemon] listen``: uvicorn on a thread of the daemon, on a socket bound here.

Bound in the constructor, so a port in use is the same one-line ConfigError as before the
console existed, and ``listen = "127.0.0.1:0"`` tells its port at once (``address``).
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

from backup_agent.daemon.web_settings import WebSettings
from backup_agent.errors import ConfigError

log = logging.getLogger(__name__)
STOP_SECONDS = 5.0


class WebServer:
    def __init__(self, app: Any, host: str, port: int, web: WebSettings | None = None) -> None:
        import uvicorn

        web = web or WebSettings()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((host, port))
            self.sock.listen(128)
        except OSError as exc:
            self.sock.close()
            raise ConfigError(f"daemon.listen: cannot listen on {host}:{port}: "
                              f"{exc.strerror or exc}") from None
        self.sock.setblocking(False)
        self.tls = web.tls
        # log_config=None: the daemon's logging stays as it is (uvicorn's would replace it);
        # no access log: a scrape every 15 s is not news, and a query string is nobody's.
        config = uvicorn.Config(
            app, log_config=None, log_level="warning", access_log=False, lifespan="off",
            server_header=False, timeout_graceful_shutdown=int(STOP_SECONDS),
            ssl_certfile=str(web.tls_cert_file) if web.tls_cert_file else None,
            ssl_keyfile=str(web.tls_key_file) if web.tls_key_file else None)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name="http", daemon=True)

    @property
    def address(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.address}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(STOP_SECONDS + 1)
        self.sock.close()
