"""A loopback TCP proxy that cuts every connection once a number of bytes went upstream.

In front of moto_server it is a network that fails mid-upload: the request body stops half-way
and the connection drops, as a real link does; until :meth:`heal`, new connections are cut at
once. Real sockets, so the SDK's own retries and errors are what the agent meets.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from urllib.parse import urlsplit


class CuttingProxy:
    def __init__(self, upstream: str, cut_after: int) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.cut_after, self.sent, self.cut = cut_after, 0, False
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def heal(self, cut_after: int | None = None) -> None:
        with self._lock:
            self.cut, self.sent = False, 0
            self.cut_after = cut_after if cut_after is not None else 1 << 62

    def close(self) -> None:
        self._sock.close()
        self._drop_all()

    def _drop_all(self) -> None:
        for c in self._conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            c.close()
        self._conns.clear()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            if self.cut:
                client.close()
                continue
            up = socket.create_connection(self.upstream)
            self._conns += [client, up]
            threading.Thread(target=self._pipe, args=(client, up, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(up, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if upstream:
                    with self._lock:
                        room = self.cut_after - self.sent
                        self.sent += len(data)
                        if room <= len(data):
                            self.cut = True
                    if self.cut:
                        dst.sendall(data[:max(room, 0)])
                        self._drop_all()
                        return
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
