"""The alerter: fire once per change of state, resolve once, retry a failing sink."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from backup_agent.catalog import Run
from backup_agent.daemon import conditions
from backup_agent.daemon.alerts import Alerter
from backup_agent.daemon.settings import AlertSettings
from tests.daemon.conftest import Mailbox, Webhook, wait_for


def test_state_changes_fire_once_and_clear_once(webhook: Webhook, mailbox: Mailbox) -> None:
    sent: list[tuple[str, bool]] = []
    alerter = Alerter(AlertSettings(urls=(webhook.url, mailbox.url), retries=0),
                      lambda sink, ok: sent.append((sink, ok)), backoff=0.01)
    alerter.start()
    for _ in range(3):
        alerter.set("prod", "backup", "failed", "backup failed: config-backup: disk full")
    alerter.set("prod", "backup", "partially_failed", "backup partially_failed: x")
    alerter.set("prod", "backup", None, "backup completed again")
    alerter.set("prod", "backup", None, "backup completed again")
    alerter.set("lab", "export", None, "export completed again")  # never fired: nothing to clear
    alerter.close()
    assert webhook.titles() == ["ALERT prod: backup failed", "ALERT prod: backup partially_failed",
                                "RESOLVED prod: backup"]
    assert webhook.posts[0]["message"] == "prod: backup failed: config-backup: disk full"
    assert [p["type"] for p in webhook.posts] == ["failure", "failure", "success"]
    wait_for(lambda: len(mailbox.messages) == 3, what="three mails")
    assert "Subject: ALERT prod: backup failed" in mailbox.messages[0]
    assert sent.count(("json-0", True)) == 3 and sent.count(("mailto-1", True)) == 3


def test_a_failing_sink_is_retried_with_backoff(webhook: Webhook) -> None:
    webhook.fail_first = 2
    sent: list[tuple[str, bool]] = []
    alerter = Alerter(AlertSettings(urls=(webhook.url,), retries=3), lambda s, ok: sent.append((s, ok)),
                      backoff=0.01)
    alerter.start()
    alerter.set("prod", "stale", "active", "no verified config backup for 26 h")
    alerter.close()
    assert webhook.attempts == 3 and webhook.titles() == ["ALERT prod: stale active"]
    assert sent == [("json-0", False), ("json-0", False), ("json-0", True)]


def test_autonomy_levels_from_the_last_contact() -> None:
    now = datetime(2026, 11, 30, tzinfo=UTC)
    assert conditions.autonomy(True, now, now) == (None, ("autonomy", None, conditions.autonomy(True, None, now)[1][2]))
    deadline, (_, level, msg) = conditions.autonomy(False, now - timedelta(days=1), now)
    assert deadline == now + timedelta(days=13) and level == "started" and "312.0 h left" in msg
    assert conditions.autonomy(False, now - timedelta(days=12), now)[1][1] == "critical"
    assert conditions.autonomy(False, now - timedelta(days=14), now)[1][1] == "expired"
    assert conditions.autonomy(False, None, now) == (None, ("autonomy", "unreachable", conditions.autonomy(False, None, now)[1][2]))


def test_audit_findings_become_conditions_and_watch_is_not_a_run_alert() -> None:
    run = Run("r", "prod", "audit", datetime(2026, 11, 30, tzinfo=UTC))
    run.item("snapshots", "failed", "agent snapshots past their expiry: snap-1")
    run.item("backup-age", "ok")
    run.item("autobackup", "skipped", "not checked")
    run.outcome = run.decide()
    assert conditions.from_run(run) == [
        ("snapshot-past-age", "active", "agent snapshots past their expiry: snap-1"),
        ("stale", None, "a recent verified config backup exists again")]


def test_a_restart_does_not_notify_what_was_already_firing(webhook: Webhook, tmp_path: Path) -> None:
    state = tmp_path / "alerts.json"
    first = Alerter(AlertSettings(urls=(webhook.url,), retries=0), state_file=state)
    first.start()
    first.set("prod", "autonomy", "started", "Management Node unreachable")
    first.close()
    assert oct(state.stat().st_mode & 0o777) == "0o600"
    again = Alerter(AlertSettings(urls=(webhook.url,), retries=0), state_file=state)
    again.start()
    again.set("prod", "autonomy", "started", "Management Node unreachable")  # still the same
    again.set("prod", "autonomy", None, "contact is back")
    again.close()
    assert webhook.titles() == ["ALERT prod: autonomy started", "RESOLVED prod: autonomy"]
    state.write_text("{not json")
    assert Alerter(AlertSettings(), state_file=state).state("prod", "autonomy") is None
