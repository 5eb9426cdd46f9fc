"""The web-api tests' helpers: a daemon with tokens against the simulator, and raw HTTP.

``Web.call`` speaks HTTP with http.client (no redirect followed, any method, any body), so a
test sees exactly what the daemon answered: status, headers and body.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from backup_agent.sim import SimOptions, Simulator
from tests.daemon.conftest import Daemon, daemon_config
from tests.jobs.conftest import PASSWORD

OPERATOR = "op-T0ken-4a8f2c9e1b7d6053"
VIEWER = "view-T0ken-93e1d7c2a5b8f604"
OFF = {job: "off" for job in ("backup", "export", "retention", "verify", "watch", "audit")}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    cookies: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        assert self.headers.get("content-type", "").startswith("application/json"), self.headers
        return json.loads(self.body)


class Web:
    """A running daemon's web side."""

    def __init__(self, daemon: Daemon, tls: ssl.SSLContext | None = None, port: int | None = None) -> None:
        self.daemon, self.tls, self._port = daemon, tls, port

    @property
    def port(self) -> int:
        return self._port or self.daemon.port

    def call(self, method: str, path: str, token: str | None = None, body: bytes | None = None,
             headers: dict[str, str] | None = None, cookie: str | None = None,
             source: str | None = None) -> Answer:
        """One request; ``source``: the loopback address it comes from (127.0.0.2, say)."""
        conn: http.client.HTTPConnection
        where = (source, 0) if source else None
        if self.tls is not None:
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30, context=self.tls,
                                               source_address=where)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30, source_address=where)
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        if cookie is not None:
            hdrs["Cookie"] = f"backup_agent_session={cookie}"
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            cookies = {}
            for name, value in resp.getheaders():
                if name.lower() == "set-cookie":
                    key, _, rest = value.partition("=")
                    cookies[key] = rest
            return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data, cookies)
        finally:
            conn.close()

    def get(self, path: str, token: str | None = OPERATOR, **kw: Any) -> Answer:
        return self.call("GET", path, token, **kw)

    def post_json(self, path: str, payload: Any = None, token: str | None = OPERATOR,
                  raw: bytes | None = None, **kw: Any) -> Answer:
        body = raw if raw is not None else json.dumps({} if payload is None else payload).encode()
        headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
        return self.call("POST", path, token, body=body, headers=headers, **kw)

    def signin(self, token: str, next_path: str = "/", source: str | None = None) -> Answer:
        from urllib.parse import urlencode

        return self.call("POST", "/signin", body=urlencode({"token": token, "next": next_path}).encode(),
                         headers={"Content-Type": "application/x-www-form-urlencoded"}, source=source)


def token_tables(tmp_path: Path, tokens: dict[str, tuple[str, str]] | None = None) -> str:
    """``[[daemon.tokens]]`` for ``{name: (role, token)}`` (default: ops-team and watchers)."""
    tokens = tokens if tokens is not None else {"ops-team": ("operator", OPERATOR),
                                                "watchers": ("viewer", VIEWER)}
    out = []
    for name, (role, value) in tokens.items():
        (tmp_path / f"token-{name}").write_text(value + "\n")
        out.append(f'[[daemon.tokens]]\nname = "{name}"\nrole = "{role}"\ntoken_file = "token-{name}"\n')
    return "\n".join(out)


def start(tmp_path: Path, url: str, daemons: list[Daemon], daemon_keys: str = "",
          tokens: str | None = None, schedule: dict[str, str] | None = None,
          tls: ssl.SSLContext | None = None) -> Web:
    tables = f'[daemon]\nlisten = "127.0.0.1:0"\ngrace_seconds = 2\n{daemon_keys}\n'
    tables += token_tables(tmp_path) if tokens is None else tokens
    cfg = daemon_config(tmp_path, url, schedule={**OFF, **(schedule or {})}, tables=tables)
    d = Daemon(cfg)
    daemons.append(d)
    if tls is None:
        d.wait_listening()
    else:
        deadline = time.monotonic() + 15
        while not (m := re.search(r"listening on https://127\.0\.0\.1:(\d+)", d.stderr())):
            assert d.proc.poll() is None and time.monotonic() < deadline, d.stderr()
            time.sleep(0.05)
        d.port = int(m.group(1))
    return Web(d, tls)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(SimOptions(rooms=20, conferencing_nodes=2, password=PASSWORD,
                              backup_request_seconds=0.05)) as s:
        yield s


def catalog_rows(tmp_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables a request could change: compared before and after (the
    daemon's own watch runs, every second in some tests, left out)."""
    import sqlite3

    db = sqlite3.connect(tmp_path / "var" / "catalog.db")
    not_watch = {"runs": " WHERE job != 'watch'", "run_items": " WHERE run_id NOT LIKE 'run-watch-%'"}
    try:
        return {t: sorted(db.execute(f"SELECT * FROM {t}{not_watch.get(t, '')}").fetchall(),  # noqa: S608
                          key=repr)
                for t in ("runs", "run_items", "restore_points", "files", "restores")}
    finally:
        db.close()


SECRETS = (OPERATOR, VIEWER, PASSWORD)


def assert_no_leak(*texts: str) -> None:
    """No token, no password, no traceback in what the daemon answered or logged."""
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, "a secret leaked"
        assert "Traceback" not in text and 'File "' not in text, text[-2000:]


def wait_run(web: Web, run_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = web.get(f"/api/v1/runs/{run_id}").json()
        if run["outcome"] is not None:
            return dict(run)
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish in {timeout} s")
