"""``backup-agent run`` end to end: a real daemon, the simulator over HTTP, time compressed."""

from __future__ import annotations

import itertools
import json
import signal
import time
from datetime import datetime, timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from backup_agent import config
from backup_agent.catalog import open_catalog
from backup_agent.daemon import jobs
from backup_agent.daemon.scheduler import Daemon as InProcess
from backup_agent.daemon.triggers import trigger_for
from backup_agent.sim import Simulator
from tests.daemon.conftest import Daemon, Mailbox, Webhook, daemon_config, free_port, wait_for
from tests.jobs.conftest import PASSPHRASE, PASSWORD

CONTRACT = {
    "backup_agent_runs", "backup_agent_last_success_timestamp_seconds",
    "backup_agent_last_run_duration_seconds", "backup_agent_restore_points",
    "backup_agent_stored_bytes", "backup_agent_management_node_up",
    "backup_agent_autonomy_remaining_seconds", "backup_agent_oldest_agent_snapshot_age_seconds",
    "backup_agent_alerts_sent",
}


def metrics(d: Daemon) -> dict[str, list[tuple[dict[str, str], float]]]:
    status, text = d.get("/metrics")
    assert status == 200
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        out[family.name] = [(s.labels, s.value) for s in family.samples]
    return out


def runs(tmp_path: Path) -> list[tuple[str, str, str | None, str | None]]:
    cat = open_catalog(tmp_path / "var" / "catalog.db")
    try:
        return [(r.job, iso_us(r.started_at), iso_us(r.finished_at) if r.finished_at else None,
                 str(r.outcome) if r.outcome else None) for r in reversed(cat.runs(limit=100_000))]
    finally:
        cat.close()


def iso_us(t: datetime) -> str:
    return t.isoformat()


def test_a_daemon_runs_its_schedules_serves_metrics_alerts_and_stops_on_sigterm(
        sim: Simulator, tmp_path: Path, daemons: list[Daemon], webhook: Webhook, mailbox: Mailbox) -> None:
    alerts = f'[alerts]\nurls = ["{webhook.url}", "{mailbox.url}"]\nstale_after = "1h"\n'
    cfg = daemon_config(tmp_path, sim.url, tables=alerts + '[retention]\nkeep_last = 2\n')
    d = Daemon(cfg).wait_listening()
    daemons.append(d)
    assert d.get("/healthz")[0] == 200
    status, body = d.get("/readyz")
    assert status == 200 and json.loads(body)["store"] == "writable"
    wait_for(lambda: sum(1 for r in runs(tmp_path) if r[0] == "backup" and r[3] == "completed") >= 3,
             what="three completed backups")
    # A backup failure fires one alert; the next good backup resolves it.
    sim.faults.fail_next(50, status=500, path="backup")
    # The inventory item still succeeds, but no config backup is made: the run failed.
    wait_for(lambda: "ALERT prod: backup failed" in webhook.titles(), what="failure alert")
    sim.faults.clear()
    wait_for(lambda: "RESOLVED prod: backup" in webhook.titles(), what="resolved alert")
    wait_for(lambda: any("autobackup-disabled" in m for m in mailbox.messages), what="mail")
    m = metrics(d)
    assert CONTRACT - {"backup_agent_autonomy_remaining_seconds",
                       "backup_agent_oldest_agent_snapshot_age_seconds"} <= set(m)
    done = {(labels["job"], labels["outcome"]) for labels, v in m["backup_agent_runs"] if v > 0}
    assert {("backup", "completed"), ("watch", "completed"), ("export", "completed")} <= done
    assert ("backup", "failed") in done
    assert [v for labels, v in m["backup_agent_management_node_up"]] == [1.0]
    points = {labels["kind"]: v for labels, v in m["backup_agent_restore_points"]}
    made = sum(v for labels, v in m["backup_agent_runs"]
               if labels["job"] == "backup" and labels["outcome"] == "completed")
    assert points["config-backup"] <= 3 < made, "retention keeps the last 2 (and one made since)"
    assert m["backup_agent_autonomy_remaining_seconds"] == [], "no clock while the node answers"
    sent = {(labels["sink"], labels["outcome"]) for labels, v in m["backup_agent_alerts_sent"] if v}
    assert ("json-0", "sent") in sent and ("mailto-1", "sent") in sent
    assert webhook.titles().count("ALERT prod: backup failed") == 1, "once per change"
    [fired] = [p for p in webhook.posts if p["title"] == "ALERT prod: backup failed"]
    assert "config-backup" in fired["message"] and fired["type"] == "failure"
    d.signal(signal.SIGTERM)
    assert d.stop() == 0
    assert all(r[2] and r[3] for r in runs(tmp_path)), "every run has its outcome"
    assert "daemon stopped" in d.stderr() and "Traceback" not in d.stderr()
    told = d.stderr() + json.dumps(webhook.posts) + "".join(mailbox.messages) + str(m)
    for secret in (PASSWORD, PASSPHRASE):
        assert secret not in told, "no secret in logs, alerts or metrics"


def test_writers_of_one_deployment_never_overlap(tmp_path: Path, daemons: list[Daemon]) -> None:
    from backup_agent.sim import SimOptions

    # Slow backups (0.8 s on the node) scheduled every second, exports and retention alongside.
    with Simulator(SimOptions(rooms=20, password=PASSWORD, backup_request_seconds=0.8)) as slow:
        cfg = daemon_config(tmp_path, slow.url, tables="[retention]\nkeep_last = 50\n",
                            schedule={"backup": "@every 1s", "export": "@every 1s",
                                      "retention": "@every 1s", "watch": "@every 1s"})
        d = Daemon(cfg).wait_listening()
        daemons.append(d)
        wait_for(lambda: sum(1 for r in runs(tmp_path) if r[0] == "backup" and r[3]) >= 3,
                 timeout=30, what="three backups")
        assert d.stop() == 0
    writers = sorted((datetime.fromisoformat(s), datetime.fromisoformat(f), job) for job, s, f, _ in runs(tmp_path)
                     if job in ("backup", "export", "retention") and f)
    for (_, end, job), (start, _, nxt) in itertools.pairwise(writers):
        assert start >= end, f"{nxt} started before {job} ended"
    assert {"backup", "export", "retention"} <= {w[2] for w in writers}


def test_a_second_daemon_on_the_same_storage_is_refused_with_the_pid(
        sim: Simulator, tmp_path: Path, daemons: list[Daemon]) -> None:
    # The same configuration, so the same port: the storage path's holder is named, not the port.
    cfg = daemon_config(tmp_path, sim.url, tables=f'[daemon]\nlisten = "127.0.0.1:{free_port()}"\n')
    first = Daemon(cfg).wait_listening()
    daemons.append(first)
    second = Daemon(cfg)
    daemons.append(second)
    assert second.proc.wait(20) == 4
    err = second.stderr().strip().splitlines()
    assert len(err) == 1 and f"pid {first.proc.pid}" in err[0] and "storage path" in err[0], err
    assert first.get("/healthz")[0] == 200


def test_sighup_reloads_and_a_broken_configuration_is_refused(
        sim: Simulator, tmp_path: Path, daemons: list[Daemon]) -> None:
    cfg = daemon_config(tmp_path, sim.url, schedule={"watch": "@every 1s", "backup": "off",
                                                     "export": "off", "verify": "off", "audit": "off"})
    d = Daemon(cfg).wait_listening()
    daemons.append(d)
    good = cfg.read_text()
    cfg.write_text(good.replace('backup = "off"', 'backup = "61 * * * *"'))
    d.signal(signal.SIGHUP)
    wait_for(lambda: "reload refused" in d.stderr(), what="refusal")
    refusals = [line for line in d.stderr().splitlines() if "reload refused" in line]
    assert len(refusals) == 1 and "deployments.prod.schedule.backup" in refusals[0]
    assert d.get("/healthz")[0] == 200
    before = sum(1 for r in runs(tmp_path) if r[0] == "backup")
    cfg.write_text(good.replace('backup = "off"', 'backup = "@every 1s"'))
    d.signal(signal.SIGHUP)
    wait_for(lambda: "configuration reloaded" in d.stderr(), what="reload")
    wait_for(lambda: sum(1 for r in runs(tmp_path) if r[0] == "backup" and r[3]) > before,
             what="a backup scheduled by the reloaded configuration")
    time.sleep(1.5)  # watch runs of the new configuration, after the old one's env is closed
    assert d.stop() == 0
    agent_log = (tmp_path / "var" / "logs" / "agent.log").read_text()
    after = agent_log.split("configuration reloaded", 1)[1]
    assert "backup prod: completed" in after and "watch prod: completed" in after, \
        "the agent's log file is still written after a reload"


def test_an_overdue_job_runs_once_at_start_and_a_recent_one_waits(
        sim: Simulator, tmp_path: Path, daemons: list[Daemon]) -> None:
    sched = {"backup": "@every 1h", "watch": "@every 1s", "export": "off", "verify": "off",
             "audit": "off"}
    cfg = daemon_config(tmp_path, sim.url, schedule=sched)
    d = Daemon(cfg).wait_listening()
    daemons.append(d)
    wait_for(lambda: [r for r in runs(tmp_path) if r[0] == "backup" and r[3]], what="the first backup")
    assert d.stop() == 0
    d = Daemon(cfg).wait_listening()
    daemons.append(d)
    wait_for(lambda: len([r for r in runs(tmp_path) if r[0] == "watch"]) >= 4, what="watch runs")
    assert len([r for r in runs(tmp_path) if r[0] == "backup"]) == 1, "the hourly backup is not due"
    assert d.stop() == 0
    # A cron schedule: overdue when a fire time passed since the last start (the daemon down).
    cfg.write_text(cfg.read_text().replace('backup = "@every 1h"', 'backup = "*/5 * * * *"'))
    daemon = InProcess(config.load(cfg))
    try:
        [sched] = [s for s in daemon.config.service.schedules["prod"] if s.job == "backup"]
        trigger = trigger_for(sched)
        last = jobs.last_started(daemon.env, "prod", "backup")
        assert last is not None
        boundary = trigger.get_next_fire_time(None, last)
        assert daemon._first_run("prod", sched, trigger, boundary - timedelta(seconds=1)) == boundary
        late = boundary + timedelta(minutes=7)
        assert daemon._first_run("prod", sched, trigger, late) == late, "overdue: now"
    finally:
        daemon.env.close()


def test_misfired_runs_coalesce_into_one(sim: Simulator, tmp_path: Path, daemons: list[Daemon]) -> None:
    sched = {"watch": "@every 1s", "backup": "off", "export": "off", "verify": "off", "audit": "off"}
    d = Daemon(daemon_config(tmp_path, sim.url, schedule=sched)).wait_listening()
    daemons.append(d)
    wait_for(lambda: len([r for r in runs(tmp_path) if r[0] == "watch"]) >= 2, what="watch runs")
    d.signal(signal.SIGSTOP)  # the whole daemon frozen: five fire times pass unserved
    time.sleep(5)
    before = len([r for r in runs(tmp_path) if r[0] == "watch"])
    d.signal(signal.SIGCONT)
    time.sleep(0.8)
    after = len([r for r in runs(tmp_path) if r[0] == "watch"])
    assert after - before == 1, f"{after - before} runs after the freeze: missed runs coalesce into one"
    d.signal(signal.SIGINT)
    assert d.stop() == 0, "SIGINT stops as SIGTERM does"
