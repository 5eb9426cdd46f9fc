"""The daemon under faults: SIGTERM mid-download, an unwritable store, a lost Management Node,
sinks that hang or answer 500, clock skew. Each against real peers over real sockets."""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backup_agent.sim import SimOptions, Simulator
from tests.daemon.conftest import Daemon, Webhook, daemon_config, free_port, wait_for
from tests.daemon.test_service import metrics, runs
from tests.jobs.conftest import PASSWORD

QUIET = {"export": "off", "verify": "off", "audit": "off", "watch": "@every 1s"}


def test_sigterm_in_the_middle_of_a_1_gib_download_aborts_cleanly_after_the_grace_period(
        tmp_path: Path, daemons: list[Daemon]) -> None:
    opts = SimOptions(rooms=10, password=PASSWORD, backup_request_seconds=0.05,
                      backup_padding_bytes=1024 ** 3)
    with Simulator(opts) as big:
        cfg = daemon_config(tmp_path, big.url, schedule={**QUIET, "backup": "@every 1h"})
        cfg.write_text(cfg.read_text().replace("grace_seconds = 2", "grace_seconds = 0.5"))
        d = Daemon(cfg).wait_listening()
        daemons.append(d)
        store = tmp_path / "var" / "store" / "prod" / "config-backup"

        def downloading() -> bool:
            return any(p.stat().st_size > 20 * 1024 ** 2 for p in store.rglob(".*.tmp-*"))
        wait_for(downloading, timeout=120, what="a download under way")
        sent = time.monotonic()
        d.signal(signal.SIGTERM)
        assert d.stop(60) == 0
        took = time.monotonic() - sent
    assert 0.5 <= took < 15, took
    [backup] = [r for r in runs(tmp_path) if r[0] == "backup"]
    assert backup[3] == "failed" and backup[2], "recorded: no config backup made, failed"
    assert not [p for p in store.rglob("*") if p.is_file()], "nothing half-written is left or kept"
    err = d.stderr()
    assert "grace period over: aborting 1 running job(s)" in err and "Traceback" not in err
    from backup_agent.catalog import open_catalog

    cat = open_catalog(tmp_path / "var" / "catalog.db")
    try:
        [run] = [r for r in cat.runs("prod") if r.job == "backup"]
        assert run.items["config-backup"] == ("failed", "interrupted")
        assert not cat.restore_points("prod", "config-backup")
    finally:
        cat.close()


def test_an_unwritable_store_fails_readyz_alerts_and_the_daemon_stays_up(
        sim: Simulator, tmp_path: Path, daemons: list[Daemon], webhook: Webhook) -> None:
    cfg = daemon_config(tmp_path, sim.url, schedule={**QUIET, "backup": "@every 1s"},
                        tables=f'[alerts]\nurls = ["{webhook.url}"]\n')
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "store").write_text("a file where the store directory should be")
    d = Daemon(cfg).wait_listening()
    daemons.append(d)
    status, body = d.get("/readyz")
    assert status == 503 and json.loads(body)["store"].startswith("cannot write"), body
    assert d.get("/healthz")[0] == 200
    wait_for(lambda: "ALERT prod: store not-writable" in webhook.titles(), what="store alert")
    wait_for(lambda: len([r for r in runs(tmp_path) if r[0] == "backup" and r[3] == "failed"]) >= 2,
             what="failed backups")
    (tmp_path / "var" / "store").unlink()
    assert d.get("/readyz")[0] == 200
    wait_for(lambda: "RESOLVED prod: store" in webhook.titles(), what="store resolved")
    wait_for(lambda: [r for r in runs(tmp_path) if r[0] == "backup" and r[3] == "completed"],
             what="a backup once the store is back")
    assert webhook.titles().count("ALERT prod: store not-writable") == 1
    assert d.stop() == 0


def test_a_lost_management_node_alerts_once_per_state_and_the_clock_keeps_running(
        tmp_path: Path, daemons: list[Daemon], webhook: Webhook) -> None:
    port = free_port()
    sim = Simulator(SimOptions(rooms=10, password=PASSWORD, backup_request_seconds=0.05)).start(port=port)
    cfg = daemon_config(tmp_path, sim.url, schedule={**QUIET, "backup": "@every 1s"},
                        tables=f'[alerts]\nurls = ["{webhook.url}"]\n', retries=0, timeout=1)
    d = Daemon(cfg).wait_listening()
    daemons.append(d)
    wait_for(lambda: [r for r in runs(tmp_path) if r[0] == "watch" and r[3] == "completed"], what="contact")
    sim.stop()
    wait_for(lambda: "ALERT prod: autonomy started" in webhook.titles(), what="clock started")
    first = {s[0]["deployment"]: s[1] for s in metrics(d)["backup_agent_autonomy_remaining_seconds"]}["prod"]
    failed_watch = len([r for r in runs(tmp_path) if r[0] == "watch" and r[3] == "failed"])
    wait_for(lambda: len([r for r in runs(tmp_path) if r[0] == "watch" and r[3] == "failed"]) >= failed_watch + 5,
             what="many watch cycles")
    m = metrics(d)
    later = m["backup_agent_autonomy_remaining_seconds"][0][1]
    assert later < first <= 14 * 86400, "the clock keeps running"
    assert m["backup_agent_management_node_up"][0][1] == 0
    assert webhook.titles().count("ALERT prod: autonomy started") == 1, webhook.titles()
    assert len([r for r in runs(tmp_path) if r[0] == "backup" and r[3] == "failed"]) >= 3, \
        "every backup run reports the failure"
    assert webhook.titles().count("ALERT prod: backup failed") == 1
    sim = Simulator(SimOptions(rooms=10, password=PASSWORD, backup_request_seconds=0.05)).start(port=port)
    try:
        wait_for(lambda: "RESOLVED prod: autonomy" in webhook.titles(), what="contact back")
        wait_for(lambda: not metrics(d)["backup_agent_autonomy_remaining_seconds"], what="gauge gone")
        wait_for(lambda: "RESOLVED prod: backup" in webhook.titles(), what="backups back")
        assert d.stop() == 0
    finally:
        sim.stop()


@pytest.mark.parametrize("mode", ["hang", "500"])
def test_a_sink_that_hangs_or_answers_500_is_retried_logged_and_never_delays_a_backup(
        sim: Simulator, tmp_path: Path, daemons: list[Daemon], webhook: Webhook, mode: str) -> None:
    webhook.mode = mode
    alerts = f'[alerts]\nurls = ["{webhook.url}"]\ntimeout = 0.5\nretries = 2\n'
    cfg = daemon_config(tmp_path, sim.url, tables=alerts,
                        schedule={**QUIET, "backup": "@every 1s", "audit": "@every 1s"})
    d = Daemon(cfg).wait_listening()
    daemons.append(d)
    # The audit finds the node's autobackup disabled at once: an alert to a sink that fails.
    wait_for(lambda: "alert sink json-0: sending failed (attempt 3 of 3); given up" in d.stderr(),
             timeout=30, what="retries given up")
    assert "attempt 1 of 3); retrying" in d.stderr() and webhook.attempts >= 3
    backups = [r for r in runs(tmp_path) if r[0] == "backup" and r[3] == "completed"]
    assert len(backups) >= 3, "backups went on while the sink failed"
    durations = [(datetime.fromisoformat(f) - datetime.fromisoformat(s)).total_seconds()
                 for _, s, f, _ in backups if f]
    assert max(durations) < 3
    m = metrics(d)
    assert {(lbl["sink"], lbl["outcome"]): v for lbl, v in m["backup_agent_alerts_sent"]}[("json-0", "failed")] >= 3
    assert webhook.url.split("//")[1] not in d.stderr(), "sinks are named by index, not URL"
    assert d.stop() == 0


@pytest.mark.parametrize("skew", [timedelta(hours=5), -timedelta(hours=5)])
def test_clock_skew_between_agent_and_management_node(tmp_path: Path, daemons: list[Daemon],
                                                     webhook: Webhook, skew: timedelta) -> None:
    opts = SimOptions(rooms=10, password=PASSWORD, backup_request_seconds=0.05,
                      now=lambda: datetime.now(UTC) + skew)
    with Simulator(opts) as skewed:
        cfg = daemon_config(tmp_path, skewed.url, tables=f'[alerts]\nurls = ["{webhook.url}"]\n'
                            'stale_after = "1h"\n',
                            schedule={**QUIET, "backup": "@every 1s", "audit": "@every 1s"})
        d = Daemon(cfg).wait_listening()
        daemons.append(d)
        wait_for(lambda: len([r for r in runs(tmp_path) if r[0] == "backup" and r[3] == "completed"]) >= 2,
                 what="backups against a skewed node")
        wait_for(lambda: [r for r in runs(tmp_path) if r[0] == "audit" and r[2]], what="an audit")
        assert d.stop() == 0
    from backup_agent.catalog import open_catalog

    cat = open_catalog(tmp_path / "var" / "catalog.db")
    try:
        for rp in cat.restore_points("prod", "config-backup"):
            assert abs((rp.taken_at - datetime.now(UTC)).total_seconds()) < 120, "agent time, not the node's"
    finally:
        cat.close()
    assert not [t for t in webhook.titles() if "stale" in t], "a skewed node is not a stale backup"


def test_a_corrupted_stored_file_fails_verify_and_alerts(sim: Simulator, tmp_path: Path,
                                                         daemons: list[Daemon], webhook: Webhook) -> None:
    cfg = daemon_config(tmp_path, sim.url, tables=f'[alerts]\nurls = ["{webhook.url}"]\n',
                        schedule={**QUIET, "backup": "@every 1h", "verify": "@every 1s"})
    d = Daemon(cfg).wait_listening()
    daemons.append(d)
    wait_for(lambda: [r for r in runs(tmp_path) if r[0] == "backup" and r[3] == "completed"], what="a backup")
    [stored] = [p for p in (tmp_path / "var" / "store" / "prod" / "config-backup").rglob("*") if p.is_file()]
    data = bytearray(stored.read_bytes())
    data[100] ^= 0xFF  # one bit-rotten byte, same size
    stored.write_bytes(bytes(data))
    wait_for(lambda: [t for t in webhook.titles() if t.startswith("ALERT prod: verify")], what="verify alert")
    [fired] = [p for p in webhook.posts if p["title"].startswith("ALERT prod: verify")]
    assert "sha256 mismatch" in fired["message"]
    assert d.stop() == 0
    from backup_agent.catalog import open_catalog

    cat = open_catalog(tmp_path / "var" / "catalog.db")
    try:
        [rp] = cat.restore_points("prod", "config-backup")
        assert not rp.verified and rp.data["verify_failed"]["problems"]
    finally:
        cat.close()
