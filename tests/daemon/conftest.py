"""A real daemon process against the simulator over HTTP, and real alert receivers.

``Daemon`` runs ``backup-agent run`` as a subprocess (real signals, a real port), with time
compressed through ``@every <seconds>`` schedules. The webhook receiver is http.server on
loopback; the mail receiver is aiosmtpd.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from backup_agent.sim import SimOptions, Simulator
from tests.jobs.conftest import PASSWORD, agent, write_config

__all__ = ["agent"]  # the in-process CLI fixture, shared with the job tests

ROOT = Path(__file__).resolve().parents[2]
FAST = {"backup": "@every 2s", "export": "@every 3s", "watch": "@every 1s",
        "retention": "@every 3s", "verify": "@every 3s", "audit": "@every 2s"}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(SimOptions(rooms=20, conferencing_nodes=2, password=PASSWORD,
                              backup_request_seconds=0.05)) as s:
        yield s


def daemon_config(tmp_path: Path, url: str, schedule: dict[str, str] | None = None,
                  tables: str = "", **dep: Any) -> Path:
    """agent.toml for a daemon on a free port with ``schedule`` (default: :data:`FAST`)."""
    cfg = write_config(tmp_path, url, **dep)
    sched = "\n".join(f'{k} = "{v}"' for k, v in (schedule or FAST).items())
    text = cfg.read_text() + f"\n[deployments.schedule]\n{sched}\n"
    daemon = "" if "[daemon]" in tables else '[daemon]\nlisten = "127.0.0.1:0"\ngrace_seconds = 2\n\n'
    head = daemon + tables + "\n"
    cfg.write_text(head + text)
    return cfg


class Daemon:
    """``backup-agent run`` in a subprocess; its stderr is kept in a file."""

    def __init__(self, cfg: Path, env: dict[str, str] | None = None) -> None:
        self.cfg = cfg
        self.log = cfg.parent / f"daemon-{time.monotonic_ns()}.err"
        self._err = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "backup_agent.cli.main", "--config", str(cfg), "run"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=self._err,
            env={**os.environ, **(env or {})})
        self.port = 0

    def wait_listening(self, timeout: float = 15) -> Daemon:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if m := re.search(r"listening on http://127\.0\.0\.1:(\d+)", self.stderr()):
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}: {self.stderr()}")
            time.sleep(0.05)
        raise AssertionError(f"daemon not listening after {timeout} s: {self.stderr()}")

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._err.close()
        return code


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    """Every daemon a test starts is stopped at its end, whatever happened."""
    started: list[Daemon] = []
    yield started
    for d in started:
        if d.proc.poll() is None:
            d.stop()


def wait_for(predicate: Any, timeout: float = 20, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Webhook:
    """A JSON webhook on loopback: records posts; ``mode`` "ok", "500" or "hang"."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.attempts = 0
        self.mode = "ok"
        self.fail_first = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.attempts += 1
                if outer.mode == "hang":
                    time.sleep(3)
                failing = outer.mode == "500" or outer.fail_first > 0
                outer.fail_first -= 1
                if not failing:
                    outer.posts.append(json.loads(body))
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/hook"

    def titles(self) -> list[str]:
        return [p["title"] for p in self.posts]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.server.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[str] = []
        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                outer.messages.append(envelope.content.decode("utf-8", "replace"))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        self.url = (f"mailto://127.0.0.1:{self.port}?from=agent@example.com&to=ops@example.com"
                    "&mode=insecure")


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    yield box
    box.controller.stop()
