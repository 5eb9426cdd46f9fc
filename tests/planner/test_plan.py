"""Scenario table: ranked kinds, readiness, priority and the clock for the situations of issue 4."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from backup_agent.planner import make_plan, parse_evidence
from backup_agent.planner.plan import Plan
from tests.planner.helpers import DOWN_SINCE, NOW, backup, cn, days_before, evidence, export, snapshot

B_NEW = backup("b-new", days_before(1))
B_OLD_VERSION = backup("b-372", days_before(1), version="37.2")
S_OLD = snapshot("s-old", days_before(20))
S_NEW = snapshot("s-new", days_before(0.5))
EXPORT = export("e-1", days_before(0.9))
OSLO_BERGEN = [cn("cn-osl-1", "down"), cn("cn-osl-2", "down"), cn("cn-brg-1", "up", location="Bergen")]


@dataclass
class Case:
    name: str
    doc: dict[str, Any]
    kinds: list[str]
    ready: list[bool]
    priority: str
    level: str
    targets: list[str] = field(default_factory=list)


CASES = [
    Case("management lost, backup newer than snapshot",
         evidence(points=[B_NEW, S_OLD, EXPORT]),
         ["restore-backup", "revert-snapshot", "rebuild"], [True, True, True], "P2", "warning",
         ["mgr01", "mgr01", "prod"]),
    Case("management lost, snapshot newer than backup",
         evidence(points=[B_NEW, S_NEW]),
         ["revert-snapshot", "restore-backup", "rebuild"], [True, True, True], "P2", "warning"),
    Case("management lost, no restore points",
         evidence(points=[]), ["rebuild"], [True], "P2", "warning"),
    Case("management lost, backup only, version differs",
         evidence(points=[B_OLD_VERSION]), ["restore-backup", "rebuild"], [True, True], "P2", "warning"),
    Case("management lost, snapshot only, unavailable",
         evidence(points=[snapshot("s-gone", days_before(1), available=False)]),
         ["revert-snapshot", "rebuild"], [False, True], "P2", "warning"),
    Case("management lost, newer snapshot gone: the older available one ranks first",
         evidence(points=[snapshot("s-gone", days_before(1), available=False), S_OLD]),
         ["revert-snapshot", "revert-snapshot", "rebuild"], [True, False, True], "P2", "warning"),
    Case("management lost, newest backup unverified",
         evidence(points=[backup("b-unverified", days_before(0.1), verified=False), B_NEW]),
         ["restore-backup", "restore-backup", "rebuild"], [True, False, True], "P2", "warning"),
    Case("Conferencing Node lost, Management Node up",
         evidence(mn_status="up", down_since=None, cns=[cn("cn-osl-1"), cn("cn-osl-2", "down")],
                  points=[B_NEW]),
         ["redeploy-node", "rebuild"], [True, True], "P3", "none", ["cn-osl-2", "prod"]),
    Case("both lost",
         evidence(cns=[cn("cn-osl-1"), cn("cn-osl-2", "down", platform="aws")], points=[B_NEW]),
         ["restore-backup", "redeploy-node", "rebuild"], [True, False, True], "P2", "warning"),
    Case("all lost: system down",
         evidence(cns=[cn("cn-osl-1", "down"), cn("cn-osl-2", "down")], points=[B_NEW]),
         ["restore-backup", "redeploy-node", "redeploy-node", "rebuild"], [True, False, False, True],
         "P1", "none", ["mgr01", "cn-osl-1", "cn-osl-2", "prod"]),
    Case("whole site lost, Management Node with it",
         evidence(cns=OSLO_BERGEN, points=[B_NEW, EXPORT]),
         ["restore-backup", "redeploy-node", "redeploy-node", "rebuild"], [True, False, False, True],
         "P2", "warning"),
    Case("whole site of Conferencing Nodes lost, Management Node up",
         evidence(mn_status="up", down_since=None, cns=OSLO_BERGEN, points=[B_NEW]),
         ["redeploy-node", "redeploy-node", "rebuild"], [True, True, True], "P2", "none"),
    Case("rooms deleted by mistake",
         evidence(mn_status="up", down_since=None, points=[B_NEW, EXPORT], lost_rooms=["VMR Alice"]),
         ["import-rooms", "rebuild"], [True, True], "P3", "none", ["mgr01", "prod"]),
    Case("rooms deleted, no export",
         evidence(mn_status="up", down_since=None, points=[B_NEW], lost_rooms=["VMR Alice"]),
         ["rebuild"], [True], "P3", "none"),
    Case("management status unknown",
         evidence(mn_status="unknown", down_since=None, points=[B_NEW]),
         ["restore-backup", "rebuild"], [True, True], "P2", "critical"),
    Case("nothing failed",
         evidence(mn_status="up", down_since=None, points=[B_NEW]), ["rebuild"], [True], "P4", "none"),
    Case("deadline passed",
         evidence(down_since=days_before(14, NOW), points=[backup("b-old", days_before(20))]),
         ["restore-backup", "rebuild"], [True, True], "P2", "expired"),
]


def plan_of(doc: dict[str, Any]) -> Plan:
    return make_plan(parse_evidence(doc))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_scenario(case: Case) -> None:
    plan = plan_of(case.doc)
    assert [p.kind for p in plan.paths] == case.kinds
    assert [p.ready for p in plan.paths] == case.ready
    assert plan.priority == case.priority
    assert plan.autonomy.level == case.level
    assert [p.number for p in plan.paths] == list(range(1, len(plan.paths) + 1))
    if case.targets:
        assert [p.target for p in plan.paths] == case.targets


def test_loses_names_the_restore_point_time_and_the_newer_export() -> None:
    doc = evidence(points=[backup("b-20261119", DOWN_SINCE.replace(day=19, hour=1, minute=2)),
                           export("e-20261119", DOWN_SINCE.replace(day=19, hour=1, minute=5), rooms=3)])
    first = plan_of(doc).paths[0]
    assert first.restore_point == "b-20261119"
    assert first.loses.startswith("config changes since 2026-11-19 01:02 UTC")
    assert "newer room export e-20261119 (3 rooms)" in first.loses
    assert any(s.automated and "e-20261119" in s.detail for s in first.steps)


def test_backup_of_another_version_restores_onto_a_fresh_node_of_that_version() -> None:
    path = plan_of(evidence(points=[B_OLD_VERSION])).paths[0]
    assert "version 37.2, the running version is 38.1" in path.loses
    titles = [s.title for s in path.steps]
    assert "Deploy a fresh Management Node of version 37.2" in titles
    assert "Upgrade the Management Node to 38.1" in titles  # what mixed versions take
    same = plan_of(evidence(points=[B_NEW])).paths[0]
    assert not any("Upgrade" in s.title for s in same.steps)
    assert same.estimated_minutes < path.estimated_minutes


def test_snapshot_revert_carries_the_support_advice_and_flags_versions() -> None:
    path = plan_of(evidence(points=[snapshot("s-372", days_before(1), version="37.2")])).paths[0]
    assert path.kind == "revert-snapshot"
    assert any("contacting Pexip support before rolling back" in s.detail for s in path.steps)
    assert "version 37.2" in path.loses
    assert any(s.title == "Upgrade the Management Node to 38.1" for s in path.steps)


def test_equal_age_ranks_by_time_then_risk() -> None:
    taken = days_before(1)
    kinds = [p.kind for p in plan_of(evidence(points=[backup("b", taken), snapshot("s", taken)])).paths]
    assert kinds == ["revert-snapshot", "restore-backup", "rebuild"]  # 20 min beats 90 min


def test_unavailable_snapshot_has_a_blocker() -> None:
    path = plan_of(evidence(points=[snapshot("s-gone", days_before(1), available=False)])).paths[0]
    assert not path.ready
    assert path.blockers == ("snapshot s-gone no longer exists at provider vsphere-osl",)
    unasked = plan_of(evidence(points=[snapshot("s-?", days_before(1), available=None)])).paths[0]
    assert not unasked.ready and "whether snapshot s-? still exists" in unasked.blockers[0]


def test_redeploy_waits_for_the_management_path() -> None:
    plan = plan_of(evidence(cns=[cn("cn-osl-1"), cn("cn-osl-2", "down", platform="aws")], points=[B_NEW]))
    redeploy = plan.paths[1]
    assert redeploy.blockers == ("needs the Management Node mgr01: restore it first (path 1)",)
    assert any("disk image of version 38.1" in s.detail for s in redeploy.steps)
    assert redeploy.estimated_minutes == 45  # 30 + 15 for the cloud image
    only_rebuild = plan_of(evidence(cns=[cn("cn-osl-1"), cn("cn-osl-2", "down")]))
    assert only_rebuild.paths[0].blockers[0].endswith("(path 2)")  # the rebuild


def test_steps_carry_the_restore_command() -> None:
    plan = plan_of(evidence(points=[B_NEW, S_OLD]))
    for path in plan.paths:
        if path.kind != "rebuild":
            assert any("backup-agent restore --deployment prod --down-since 2026-11-20T08:00:00Z "
                       f"--path {path.number}" in s.detail for s in path.steps if s.automated)
    assert any(not s.automated for s in plan.paths[0].steps)


def test_unknown_management_node_is_said_to_be_unconfirmed() -> None:
    plan = plan_of(evidence(mn_status="unknown", points=[B_NEW]))
    assert any("unconfirmed" in n for n in plan.notes)
    assert plan.paths[0].steps[0].title == "Confirm mgr01 is really down"
    assert plan.autonomy.level == "warning"  # down_since known: a real deadline


def test_notes_for_site_and_conferencing_snapshots() -> None:
    plan = plan_of(evidence(cns=OSLO_BERGEN, points=[snapshot("s-cn", days_before(1), node="cn-osl-1")]))
    assert "location Oslo has no Conferencing Node running" in plan.notes
    assert any("s-cn" in n and "redeploying Conferencing Nodes" in n for n in plan.notes)
    assert [p.kind for p in plan.paths] == ["redeploy-node", "redeploy-node", "rebuild"]


def test_measured_drills_feed_estimates() -> None:
    drills = [{"kind": "restore-backup", "minutes": m, "at": "2026-11-02T10:00:00Z"} for m in (30, 41.5, 60)]
    assert plan_of(evidence(points=[B_NEW], drills=drills)).paths[0].estimated_minutes == 42
    assert plan_of(evidence(points=[B_NEW])).paths[0].estimated_minutes == 90


def test_declared_failures_override_reported_status() -> None:
    plan = plan_of(evidence(mn_status="up", failed=["mgr01", "cn-osl-1"], points=[B_NEW]))
    assert [p.kind for p in plan.paths] == ["restore-backup", "redeploy-node", "rebuild"]
    assert plan.priority == "P2"


def test_to_dict_keys_are_the_contract() -> None:
    data = plan_of(evidence(points=[B_NEW])).to_dict()
    assert list(data) == ["deployment", "priority", "autonomy", "paths", "notes"]
    assert list(data["paths"][0]) == ["kind", "target", "restore_point", "ready", "blockers", "loses",
                                      "estimated_minutes", "steps"]
    assert list(data["paths"][0]["steps"][0]) == ["title", "automated", "detail"]
    assert isinstance(data["paths"][0]["estimated_minutes"], int)


def test_snapshot_without_node_is_taken_to_be_the_management_nodes() -> None:
    path = plan_of(evidence(points=[snapshot("s-anon", days_before(1), node=None)])).paths[0]
    assert (path.kind, path.target) == ("revert-snapshot", "mgr01")
    assert any("names no node, so it is taken to be mgr01's" in s.detail for s in path.steps)


def test_unknown_conferencing_nodes_are_said_to_be_unconfirmed() -> None:
    plan = plan_of(evidence(cns=[cn("cn-osl-1", "unknown"), cn("cn-osl-2", "down")], points=[B_NEW]))
    assert any(n.startswith("Conferencing Node status unconfirmed (unknown): cn-osl-1") for n in plan.notes)
    assert plan.priority == "P2"  # cn-osl-1 may still run: not "system down"...
    assert any("if none does, the system is down: P1" in n for n in plan.notes)  # ...but said
    assert plan.autonomy.applies  # one may run, so the clock runs
    assert [p.target for p in plan.paths if p.kind == "redeploy-node"] == ["cn-osl-2"]


def test_a_path_waiting_for_the_management_node_prints_the_command_that_works_once_it_is_back(
) -> None:
    """Its command declared the Management Node lost, so pasted after the node was restored,
    restore re-made this plan and refused the path for ever ("restore it first")."""
    cns = [cn("cn-osl-1", "down"), cn("cn-osl-2", "down"), cn("cn-osl-3")]
    plan = plan_of(evidence(cns=cns, points=[B_NEW], failed=["management", "cn-osl-2"]))
    waiting = [p for p in plan.paths if p.kind == "redeploy-node"]
    assert [p.target for p in waiting] == ["cn-osl-1", "cn-osl-2"] and not any(p.ready for p in waiting)
    for path in waiting:
        [cmd] = [s.detail.split("`")[1] for s in path.steps if s.automated]
        assert "management" not in cmd and "--down-since" not in cmd
        assert cmd.startswith("backup-agent restore --deployment prod --failed cn-osl-1 "
                              "--failed cn-osl-2 --path ")
        number = int(cmd.rsplit(" ", 1)[1])
        assert path.blockers == ("needs the Management Node mgr01: restore it first (path 1)",)
        assert f"once mgr01 is back (path {number} of `backup-agent plan --deployment prod " \
               "--failed cn-osl-1 --failed cn-osl-2`)" in path.steps[1].detail
        # the plan re-made as that command makes it (the Management Node up) agrees
        again = plan_of(evidence(mn_status="up", down_since=None, cns=cns, points=[B_NEW],
                                 failed=["cn-osl-1", "cn-osl-2"]))
        assert (again.paths[number - 1].kind, again.paths[number - 1].target) == \
            ("redeploy-node", path.target) and again.paths[number - 1].ready
