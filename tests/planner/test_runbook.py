"""The runbook: deadline first, the recommended steps with commands, then the alternatives."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from backup_agent.planner import make_plan, parse_evidence, to_json, to_markdown
from backup_agent.planner.runbook import recommended
from tests.planner.helpers import NOW, backup, cn, days_before, evidence, snapshot, ts


def markdown(doc: dict[str, Any]) -> str:
    return to_markdown(make_plan(parse_evidence(doc)))


def test_deadline_first_then_steps_then_alternatives() -> None:
    text = markdown(evidence(cns=[cn("cn-osl-1"), cn("cn-osl-2", "down")],
                             points=[backup("b-1", days_before(1)), snapshot("s-1", days_before(9))]))
    lines = text.splitlines()
    assert lines[0] == ("**Autonomy deadline 2026-12-04 08:00 UTC: 190.0 h left (warning); "
                        "Conferencing Nodes stop then unless the Management Node is back.**")
    do, alternatives = text.index("## Do this"), text.index("## Alternatives")
    # numbering follows the plan (alternatives for mgr01 first); the sections follow the bridge call
    assert do < text.index("### Path 1: restore-backup → mgr01") < text.index("### Path 3: redeploy-node")
    assert alternatives < text.index("### Path 2: revert-snapshot") < text.index("### Path 4: rebuild")
    # the probe found mgr01 down since 08:00: restore must cut the restore points there too
    assert ("1. **Check the prerequisites** (automated): `backup-agent restore --deployment prod "
            "--down-since 2026-11-20T08:00:00Z --path 1 --target-url https://NEW-NODE --dry-run`") in text
    assert "**Blocker:** needs the Management Node mgr01: restore it first (path 1)" in text


def test_every_restore_backup_command_names_the_target() -> None:
    """Pasted without --target-url, the first step's dry run said NOT ready (exit 4)."""
    text = markdown(evidence(points=[backup("b-1", days_before(1)),
                                     {"kind": "room-export", "id": "e-1", "rooms": 10,
                                      "taken_at": ts(days_before(0.5))}]))
    path = text[text.index("### Path 1: restore-backup"):text.index("### Path 2")]
    commands = [c for c in path.split("`") if c.startswith("backup-agent restore")]
    assert len(commands) == 3  # the dry run, the restore, the re-import it walks
    assert all("--path 1 --target-url https://NEW-NODE" in c for c in commands), commands


def test_expired_and_no_clock() -> None:
    assert markdown(evidence(down_since=days_before(15, NOW))).startswith(
        "**Autonomy deadline 2026-11-25 10:00 UTC has PASSED (24.0 h ago)")
    assert markdown(evidence(mn_status="up", down_since=None)).startswith("**No autonomy clock")
    assert markdown(evidence(mn_status="unknown", down_since=None)).startswith(
        "**Autonomy deadline UNKNOWN")


@pytest.mark.parametrize("left, says", [
    (timedelta(minutes=12), ": 12 min left (critical)"),
    (timedelta(seconds=30), ": under a minute left (critical)"),
    (timedelta(hours=1), ": 1.0 h left (critical)"),
    (-timedelta(minutes=20), " has PASSED (20 min ago)"),
])
def test_the_last_hour_is_told_in_minutes_not_0_0_h(left: timedelta, says: str) -> None:
    """"0.0 h left" read as none left while the clock still ran; minutes say how long."""
    doc = evidence(down_since=NOW - timedelta(days=14) + left)
    assert markdown(doc).splitlines()[0].startswith(f"**Autonomy deadline {doc_deadline(doc)}{says}")


def doc_deadline(doc: dict[str, Any]) -> str:
    since = datetime.fromisoformat(doc["management_node"]["down_since"].replace("Z", "+00:00"))
    return (since + timedelta(days=14)).strftime("%Y-%m-%d %H:%M UTC")


def test_status_says_minutes_and_passed() -> None:
    from backup_agent.cli.status import render

    def line(hours: float, level: str) -> str:
        status = {"deployment": "prod", "management_node": "down", "last_contact": "x",
                  "autonomy": {"applies": True, "level": level, "deadline": "2026-11-26T10:00:00Z",
                               "remaining_hours": hours}, "newest": {}, "last_runs": {}}
        return render(status).splitlines()[1]

    assert line(0.25, "critical").endswith("(15 min left)")
    assert line(-24.0, "expired").endswith("(passed 24.0 h ago)")


def test_platforms_are_named_in_sentences() -> None:
    """"deploy ... on other" and "the other provider" read as typos on a bridge call."""
    doc = evidence(cns=[cn("cn-osl-1", "down", platform="other"), cn("cn-aws", "down", platform="aws")],
                   points=[backup("b-1", days_before(1))], mn_status="unknown")
    doc["management_node"]["platform"] = "other"
    text = markdown(doc)
    assert "on other" not in text and "other provider" not in text
    assert "Deploy a fresh Management Node of version 38.1** (manual): on its platform, with" in text
    assert "check its console on its platform before replacing it" in text
    assert "deploy the Conferencing Node VM of version 38.1 on its platform" in text
    assert "AWS needs a disk image of version 38.1" in text
    doc["management_node"]["platform"] = "vmware"
    assert "Management Node of version 38.1** (manual): on VMware, with" in markdown(doc)


def test_nothing_failed_recommends_nothing() -> None:
    plan = make_plan(parse_evidence(evidence(mn_status="up", down_since=None)))
    assert recommended(plan) == []
    assert "## Nothing failed" in to_markdown(plan)


def test_without_a_management_path_the_rebuild_is_recommended() -> None:
    plan = make_plan(parse_evidence(evidence(cns=[cn("cn-osl-1"), cn("cn-osl-2", "down")])))
    assert [p.kind for p in recommended(plan)] == ["rebuild"]


def test_json_is_the_plan_dict() -> None:
    plan = make_plan(parse_evidence(evidence(points=[backup("b-1", days_before(1))])))
    assert json.loads(to_json(plan)) == plan.to_dict()


def test_a_blocked_management_path_is_not_recommended() -> None:
    plan = make_plan(parse_evidence(evidence(
        cns=[cn("cn-osl-1"), cn("cn-osl-2", "down")],
        points=[snapshot("s-gone", days_before(1), available=False)])))
    assert [p.kind for p in plan.paths] == ["revert-snapshot", "redeploy-node", "rebuild"]
    assert [p.kind for p in recommended(plan)] == ["rebuild"]
    assert plan.paths[1].blockers[0].endswith("restore it first (path 3)")
