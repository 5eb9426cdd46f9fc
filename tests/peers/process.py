"""A test peer as a separate process on a loopback port: started, waited for, always stopped."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


def port_open(port: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False
    return check


@contextmanager
def serving(cmd: list[str], port: int, name: str, *, ready: Callable[[], bool] | None = None,
            timeout: float = 30, env: Mapping[str, str] | None = None,
            cwd: Path | None = None) -> Iterator[str]:
    """Run ``cmd`` until it answers on ``port`` (``ready``: a connection by default); its URL.

    Raises RuntimeError when it exits or does not answer within ``timeout`` seconds.
    """
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    check = ready or port_open(port)
    try:
        deadline = time.monotonic() + timeout
        while not check():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start on port {port}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
