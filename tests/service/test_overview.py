"""The console's data: cards and deployment pages from the catalog, against the simulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backup_agent import config as config_mod
from backup_agent.catalog import Kind, RestorePoint
from backup_agent.daemon import jobs as daemon_jobs
from backup_agent.jobs.env import Env
from backup_agent.jobs.evidence import collect
from backup_agent.service import overview
from backup_agent.sim import Simulator
from tests.jobs.conftest import Runner, write_config


def env_of(cfg: Path) -> Env:
    return Env.open(config_mod.load(cfg))


def test_a_card_after_a_backup_and_export_shows_up_newest_points_runs_and_the_top_path(
        agent: Runner, cfg: Path, sim: Simulator) -> None:
    assert agent("--config", str(cfg), "backup")[0] == 0
    assert agent("--config", str(cfg), "export")[0] == 0
    with env_of(cfg) as env:
        dep = env.config.deployment("prod")
        assert overview.cards(env, [dep])[0].management.status == "unknown", "no watch yet"
        assert daemon_jobs.watch(env, dep).outcome == "completed"
        requests_before = sim.state.request_count if hasattr(sim.state, "request_count") else None
        [card] = overview.cards(env, [dep], [{"deployment": "prod", "key": "backup", "state": "failed"},
                                            {"deployment": "other", "key": "x", "state": "y"}])
    assert card.management.status == "up" and card.management.last_contact is not None
    assert card.management.last_contact.relative == "under a minute ago"
    assert not card.clock.applies and card.clock.level == "none"
    newest = dict(card.newest)
    assert newest["config-backup"] is not None and newest["config-backup"].verified
    assert newest["room-export"] is not None and newest["snapshot"] is None
    assert {r.job for r in card.runs} == {"backup", "export", "watch"}
    assert all(r.outcome == "completed" for r in card.runs)
    assert card.alerts == (overview.Alert("backup", "failed"),)
    assert card.top_path is not None and card.top_path.kind == "restore-backup"
    assert card.top_path.restore_point == newest["config-backup"].id
    assert card.plan_priority == "P2"
    if requests_before is not None:
        assert sim.state.request_count == requests_before, "a card never probes"


def test_the_watch_record_down_starts_the_clock_without_probing(
        agent: Runner, cfg: Path, sim: Simulator) -> None:
    assert agent("--config", str(cfg), "backup")[0] == 0
    sim.state.set_management_down()
    with env_of(cfg) as env:
        dep = env.config.deployment("prod")
        run = daemon_jobs.watch(env, dep)
        assert run.outcome == "failed"
        [card] = overview.cards(env, [dep])
    assert card.management.status == "down" and card.management.last_error
    assert card.clock.applies and card.clock.level == "warning"
    assert card.clock.deadline is not None and card.clock.deadline.future
    assert card.clock.remaining.endswith("h left")
    # Contact was seconds ago: "336.0 h left" must sit beside "in 14 days", not "in 13 days".
    assert card.clock.remaining == "336.0 h left", card.clock.remaining
    assert card.clock.deadline.relative == "in 14 days", card.clock.deadline.relative
    watch = next(r for r in card.runs if r.job == "watch")
    assert watch.outcome == "failed" and watch.reasons and watch.reasons[0].startswith("probe:")


def test_never_reached_is_unknown_and_the_card_still_renders(tmp_path: Path) -> None:


    cfg = write_config(tmp_path, "http://127.0.0.1:9")
    with env_of(cfg) as env:
        [card] = overview.cards(env, env.config.deployments)
    assert card.management.status == "unknown" and not card.clock.applies
    assert card.top_path is not None and card.top_path.kind == "rebuild"


def test_latest_runs_is_the_newest_run_of_each_job_with_its_items(cfg: Path) -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    with env_of(cfg) as env:
        for i, job in enumerate(["watch", "backup", "watch", "export", "watch"]):
            run = env.catalog.start_run("prod", job, t0 + timedelta(minutes=i))
            run.item("probe" if job == "watch" else job, "ok" if i != 4 else "failed", f"r{i}")
            env.catalog.finish_run(run, t0 + timedelta(minutes=i, seconds=5))
        runs = {r.job: r for r in env.catalog.latest_runs("prod")}
    assert set(runs) == {"watch", "backup", "export"}
    assert runs["watch"].started_at == t0 + timedelta(minutes=4)
    assert runs["watch"].failures() == [("probe", "r4")]
    assert runs["backup"].items == {"backup": ("ok", "r1")}


def test_a_drill_older_than_200_other_runs_still_gives_the_plan_its_time(cfg: Path) -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    with env_of(cfg) as env:
        drill = env.catalog.start_run("prod", "drill", t0)
        drill.item("drill", "ok")
        drill.summary = {"paths": [{"kind": "restore-backup", "minutes": 33}]}
        env.catalog.finish_run(drill, t0)
        for i in range(210):  # a daemon's watch, every few minutes
            run = env.catalog.start_run("prod", "watch", t0 + timedelta(minutes=5 * (i + 1)))
            run.item("probe", "ok")
            env.catalog.finish_run(run, run.started_at)
        ev = collect(env, env.config.deployment("prod"), [], None, probe=False, read_points=False)
    assert ev["drills"] == [{"kind": "restore-backup", "minutes": 33, "at": "2026-11-01T00:00:00Z"}]


def test_newest_reads_the_management_nodes_snapshots_that_others_pushed_out(cfg: Path) -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    with env_of(cfg) as env:
        def add(i: int, node: str) -> None:
            env.catalog.add_restore_point(RestorePoint(
                id=f"snap-{node}-{i}", kind=Kind.SNAPSHOT, deployment="prod",
                taken_at=t0 + timedelta(hours=i), node=node, provider="p", verified=True))
        add(0, "management-node")
        for i in range(1, 30):
            add(i, "cn1")
        ev = collect(env, env.config.deployment("prod"), [], t0 + timedelta(days=3), probe=False,
                     deep=False, newest=5)
    ids = [p["id"] for p in ev["restore_points"]]
    assert "snap-management-node-0" in ids and len(ids) == 6


def test_moments_say_ago_and_in() -> None:
    now = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    past = overview.moment(now - timedelta(minutes=5), now)
    assert (past.iso, past.text, past.relative) == ("2026-11-26T09:55:00Z", "2026-11-26 09:55 UTC",
                                                    "5 min ago")
    later = overview.moment(now + timedelta(days=3, hours=1), now)
    assert later.relative == "in 3 days" and later.future


def test_status_reports_a_failed_backup_behind_a_day_of_watch_runs(cfg: Path) -> None:
    from backup_agent.service.status import deployment_status

    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    with env_of(cfg) as env:
        backup = env.catalog.start_run("prod", "backup", t0)
        backup.item("config-backup", "failed", "disk full")
        env.catalog.finish_run(backup, t0 + timedelta(seconds=30))
        for i in range(288):  # a day of a daemon's watch, every 5 minutes
            run = env.catalog.start_run("prod", "watch", t0 + timedelta(minutes=5 * (i + 1)))
            run.item("probe", "ok")
            env.catalog.finish_run(run, run.started_at)
        status = deployment_status(env, env.config.deployment("prod"), probe_node=False, watch=True)
    assert status["last_runs"]["backup"]["outcome"] == "failed"
    assert any("the last backup" in r and "disk full" in r for r in status["reasons"]), status["reasons"]
    assert status["management_node"] == "up"


def test_latest_runs_tells_two_runs_of_one_second_apart_by_their_id(cfg: Path) -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    with env_of(cfg) as env:
        ids = []
        for outcome in ("failed", "ok", "failed"):
            run = env.catalog.start_run("prod", "backup", t0)
            run.item("config-backup", outcome)
            ids.append(env.catalog.finish_run(run, t0).id)
        [newest] = env.catalog.latest_runs("prod")
    assert newest.id == max(ids) and newest.outcome == "failed"


def test_cards_with_a_running_clock_come_first_by_level() -> None:
    def card(name: str, status: str, level: str = "none", applies: bool = False) -> overview.Card:
        return overview.Card(name, overview.Management(status, None, None, None),
                             overview.Clock(applies, level), (), (), (), ())

    shown = [card("a", "up"), card("b", "down"), card("c", "down", "warning", True),
             card("d", "unknown"), card("e", "down", "expired", True), card("f", "down", "critical", True)]
    assert [c.name for c in overview.urgent_first(shown)] == ["e", "f", "c", "b", "a", "d"]


@pytest.mark.parametrize(("hours", "left", "relative"), [
    (335.99, "336.0 h left", "in 14 days"), (335.5, "335.5 h left", "in 14 days"),
    (324.4, "324.4 h left", "in 14 days"), (323.4, "323.4 h left", "in 13 days"),
    (47.9, "47.9 h left", "in 48 h"), (5.96, "6.0 h left", "in 6 h"),
    (0.999, "60 min left", "in 60 min"), (0.25, "15 min left", "in 15 min"),
    (-1.97, "passed 2.0 h ago", "2 h ago")])
def test_the_clocks_hours_and_its_deadline_say_the_same_rounded_time(
        hours: float, left: str, relative: str) -> None:
    """Both texts round to the nearest unit shown; a floored deadline read a day short."""
    now = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    deadline = now + timedelta(hours=hours)
    clock = overview.clock_of({"applies": True, "level": "warning", "remaining_hours": hours,
                               "deadline": deadline.strftime("%Y-%m-%dT%H:%M:%SZ")}, now)
    assert clock.deadline is not None
    assert (clock.remaining, clock.deadline.relative) == (left, relative)
