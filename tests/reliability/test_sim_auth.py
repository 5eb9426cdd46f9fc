"""Defect 23: the simulator answers 401 before reading the body of an unauthenticated request."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

from backup_agent.sim import Simulator


@pytest.mark.parametrize("path", ["/api/admin/configuration/v1/conference/", "/_sim/options"])
def test_unauthenticated_upload_is_refused_before_its_body(sim: Simulator, path: str) -> None:
    url = urlsplit(sim.url)
    with socket.create_connection((url.hostname, url.port), timeout=5) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {100 << 20}\r\n\r\n".encode())
        s.settimeout(3)  # nothing of the 100 MiB body is sent: a server reading it waits
        try:
            head = s.recv(4096)
        except TimeoutError:
            head = b""
    assert head.startswith(b"HTTP/1.1 401") or head.startswith(b"HTTP/1.0 401"), head[:80]
