"""Versions parsed once into (release, build) and compared by release (issue 8, defect 3).

A status object says ``"38.1 (81522.0.0)"``, a config backup ``version`` ``"38.1"`` and
``build`` ``"81522.0.0"`` apart: compared as strings, every plan had a needless upgrade step.
"""

from __future__ import annotations

from typing import Any

from backup_agent.planner import make_plan, parse_evidence
from backup_agent.planner.version import Version, build_note, same_release
from tests.planner.helpers import backup, days_before, evidence, snapshot


def test_parse_the_forms_real_nodes_write() -> None:
    status = Version.parse("24 (55691.0.0)")
    assert status == Version((24, 0), "55691.0.0") and status.release_text == "24"
    assert Version.parse("38.1", "81522.0.0") == Version.parse("38.1 (81522.0.0)")
    assert str(Version.parse("38.1", "81522.0.0")) == "38.1 (81522.0.0)"
    assert Version.parse("39.0").release_text == "39.0"  # as written, for messages
    assert Version.parse("unknown") is None and Version.parse(None) is None


def test_releases_compare_and_builds_are_notes() -> None:
    assert same_release("38.1 (81522.0.0)", "38.1") is True
    assert same_release("38 (80000.0.0)", "38.0") is True
    assert same_release("37.2", "38.1 (81522.0.0)") is False
    assert same_release("unknown", "38.1") is None
    assert build_note("38.1", "38.1 (81600.0.0)", "81522.0.0") == "build 81522.0.0, not 81600.0.0"
    assert build_note("38.1", "38.1 (81522.0.0)", "81522.0.0") is None


def _steps(path: dict[str, Any]) -> list[str]:
    return [s["title"] for s in path["steps"]]


def test_no_upgrade_step_when_the_backup_is_of_the_running_release() -> None:
    point = dict(backup("b-1", days_before(1)), build="81522.0.0")
    plan = make_plan(parse_evidence(evidence(points=[point], version="38.1 (81522.0.0)"))).to_dict()
    path = plan["paths"][0]
    assert path["kind"] == "restore-backup" and path["ready"]
    assert not [t for t in _steps(path) if t.startswith("Upgrade")], _steps(path)
    assert "Deploy a fresh Management Node of version 38.1 (81522.0.0)" in _steps(path)
    assert "an upgrade" not in path["loses"]


def test_another_build_of_the_release_is_a_note_not_an_upgrade() -> None:
    point = dict(backup("b-1", days_before(1)), build="81400.0.0")
    snap = snapshot("s-1", days_before(2), version="38.1 (81300.0.0)")
    plan = make_plan(parse_evidence(evidence(points=[point, snap], version="38.1 (81522.0.0)")))
    for path in plan.to_dict()["paths"][:2]:
        assert not [t for t in _steps(path) if t.startswith("Upgrade")], _steps(path)
        assert "not 81522.0.0 (same release): a note" in path["loses"], path["loses"]
        assert not path["blockers"]


def test_another_release_still_needs_the_upgrade() -> None:
    point = dict(backup("b-1", days_before(1), version="37.2"), build="79000.0.0")
    path = make_plan(parse_evidence(evidence(points=[point], version="38.1 (81522.0.0)"))).to_dict()["paths"][0]
    assert "Upgrade the Management Node to 38.1 (81522.0.0)" in _steps(path)
