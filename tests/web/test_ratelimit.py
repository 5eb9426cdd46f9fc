"""Wrong tokens counted per client address through real HTTP: past ten, that address gets
429 with a Retry-After (a right token too, and no session), while another address is
served; the count's window and its memory bound on their own."""

from __future__ import annotations

from pathlib import Path

import pytest

from backup_agent.sim import Simulator
from backup_agent.web.ratelimit import Failures, TooManyFailures
from tests.daemon.conftest import Daemon
from tests.web.apikit import OPERATOR, VIEWER, assert_no_leak, start

WRONG = "wrong-T0ken-xxxxxxxxxxxx"


def test_wrong_bearer_tokens_lock_their_address_out(sim: Simulator, tmp_path: Path,
                                                     daemons: list[Daemon]) -> None:
    web = start(tmp_path, sim.url, daemons)
    for _ in range(Failures.LIMIT):
        assert web.get("/api/v1/deployments", token=WRONG).status == 401
    refused = web.get("/api/v1/deployments", token=WRONG)
    assert refused.status == 429, refused.text
    assert 1 <= int(refused.headers["retry-after"]) <= Failures.WINDOW
    assert refused.json()["error"].startswith("too many wrong tokens from this address")
    right = web.get("/api/v1/deployments", token=OPERATOR)
    assert right.status == 429  # or guessing would only be slowed down as the guesser likes
    # Another address is served, and a right token never counts against one.
    for _ in range(Failures.LIMIT + 2):
        assert web.get("/api/v1/deployments", token=VIEWER, source="127.0.0.2").status == 200
    assert web.get("/healthz", token=None).status == 200  # probes are not behind a token
    assert_no_leak(refused.text, right.text, web.daemon.stderr())
    assert WRONG not in web.daemon.stderr()


def test_failed_sign_ins_lock_their_address_out(sim: Simulator, tmp_path: Path,
                                                daemons: list[Daemon]) -> None:
    web = start(tmp_path, sim.url, daemons)
    for _ in range(Failures.LIMIT):
        assert web.signin(WRONG, source="127.0.0.3").status == 401
    page = web.signin(OPERATOR, source="127.0.0.3")
    assert page.status == 429 and "backup_agent_session" not in page.cookies
    assert "Too many wrong tokens from this address" in page.text
    assert 1 <= int(page.headers["retry-after"]) <= Failures.WINDOW
    # Sign-in and bearer tokens share the count: the API refuses that address too.
    assert web.get("/api/v1/deployments", token=OPERATOR, source="127.0.0.3").status == 429
    assert web.signin(OPERATOR).status == 303  # 127.0.0.1 signs in
    assert_no_leak(page.text, web.daemon.stderr())


def test_the_window_forgets_old_failures_and_the_memory_is_bounded() -> None:
    now = [1000.0]
    failures = Failures(clock=lambda: now[0])
    for _ in range(Failures.LIMIT - 1):
        failures.failed("10.0.0.1")
    failures.check("10.0.0.1")  # nine: still served
    failures.failed("10.0.0.1")
    with pytest.raises(TooManyFailures) as ten:
        failures.check("10.0.0.1")
    assert ten.value.retry_after == Failures.WINDOW
    now[0] += Failures.WINDOW - 1
    with pytest.raises(TooManyFailures) as later:
        failures.check("10.0.0.1")
    assert later.value.retry_after == 1
    now[0] += 1
    failures.check("10.0.0.1")  # the oldest left the window: served again
    for i in range(Failures.ADDRESSES + 50):
        failures.failed(f"10.1.{i // 256}.{i % 256}")
    assert len(failures._seen) == Failures.ADDRESSES
