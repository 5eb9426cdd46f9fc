"""No password, passphrase or token in any log line or error message, whatever goes wrong."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backup_agent.errors import AgentError
from backup_agent.infinity import FileSink, InfinityClient, Package
from tests.infinity.conftest import PASSPHRASE, PASSWORD, PASSWORD_ENV
from tests.infinity.peers import Handler, LocalServer, free_port

WRONG_PASSWORD = "wrong-pw-Hq93-never-logged"


def _echo(h: Handler) -> tuple[int, dict[str, str], bytes]:
    """A hostile node that quotes the request (body and Authorization) back in a 400."""
    body = h.body().decode("utf-8", "replace")
    if h.command == "GET" and "system_backup" in h.path:
        meta = {"limit": 20, "offset": 0, "total_count": 0, "next": None}
        return 200, {}, json.dumps({"meta": meta, "objects": []}).encode()
    echo = {"error": f"bad request {body} auth={h.headers.get('Authorization')}"}
    return 400, {}, json.dumps(echo).encode()


def test_no_secret_in_logs_or_errors(sim_factory: Any, make_client: Callable[..., InfinityClient],
                                     tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                     capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.DEBUG)  # urllib3 and requests too
    errors: list[str] = []

    def expect_error(fn: Callable[[], Any]) -> None:
        try:
            fn()
        except AgentError as exc:
            errors.append(f"{type(exc).__name__}: {exc} {exc!r} {exc.__cause__!r}")
        else:
            raise AssertionError("an error was expected")

    sim = sim_factory(rooms=15, backup_padding_bytes=1024 * 1024)
    client = make_client(sim.url, retries=2)
    handle = client.create_backup(PASSPHRASE, poll_interval=0.01)
    info = client.find_new_backup(handle, poll_interval=0.01)
    path = tmp_path / "b.bin"
    with open(path, "w+b") as f:
        client.download_backup(info, FileSink(f))
    sim.faults.fail_next(1, status=503)
    sim.faults.rate_limit_next(1, retry_after=1)
    client.conferences()
    sim.faults.fail_next(10, status=502)
    expect_error(client.conferences)
    sim.faults.clear()
    sim.faults.html_next(1)
    expect_error(client.alarms)
    sim.faults.malformed_json_next(1)
    expect_error(lambda: client.create_backup(PASSPHRASE))
    sim.faults.cut_download(after_bytes=100, times=10)
    expect_error(lambda: client.download_backup(info, FileSink(io.BytesIO())))
    sim.faults.clear()
    sim.faults.wrong_sha256(1)
    bad = client.list_backups()[-1]
    expect_error(lambda: client.download_backup(bad, FileSink(io.BytesIO())))
    expect_error(lambda: client.restore_backup(Package.from_path(path), "wrong-" + PASSPHRASE))
    with LocalServer(_echo) as srv:
        hostile = make_client(srv.url)
        expect_error(lambda: hostile.create_backup(PASSPHRASE))
        expect_error(lambda: hostile.restore_backup(Package.from_path(path), PASSPHRASE))
        expect_error(hostile.alarms)
    expect_error(make_client(f"http://127.0.0.1:{free_port()}", retries=1).alarms)
    monkeypatch.setenv(PASSWORD_ENV, WRONG_PASSWORD)
    expect_error(make_client(sim.url).alarms)

    assert len(errors) == 11
    out = capsys.readouterr()
    seen = "\n".join([caplog.text, out.out, out.err, *errors])
    assert "retry" in caplog.text and "HTTP 400" in seen  # the capture did capture
    assert sum("***" in e for e in errors) == 3, "\n".join(errors)  # the echoes were quoted, scrubbed
    for secret in (PASSWORD, PASSPHRASE, WRONG_PASSWORD,
                   base64.b64encode(f"admin:{PASSWORD}".encode()).decode(),
                   base64.b64encode(f"admin:{WRONG_PASSWORD}".encode()).decode()):
        assert secret not in seen, f"a secret leaked: {secret[:4]}..."
