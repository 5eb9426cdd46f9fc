"""The re-license step of the restore-backup and rebuild runbooks, from evidence licences."""

from __future__ import annotations

import pytest

from backup_agent.errors import EvidenceError
from backup_agent.planner import make_plan, parse_evidence
from tests.planner.helpers import backup, days_before, evidence

LICENCES = [{"entitlement_id": "ABC1-DEF2", "expiration_date": "2027-09-01", "status": "active"}]


def _relicense(doc: dict) -> dict[str, str]:
    plan = make_plan(parse_evidence(doc)).to_dict()
    return {p["kind"]: s["detail"] for p in plan["paths"] for s in p["steps"]
            if s["title"] == "Re-license the Management Node"}


def test_restore_backup_and_rebuild_say_which_entitlements() -> None:
    steps = _relicense(evidence(points=[backup("b-1", days_before(1))], licences=LICENCES))
    assert set(steps) == {"restore-backup", "rebuild"}
    assert all("ABC1-DEF2 (expires 2027-09-01)" in d for d in steps.values())


def test_without_licences_on_record_the_step_says_where_to_find_them() -> None:
    steps = _relicense(evidence(points=[backup("b-1", days_before(1))]))
    assert "none on record" in steps["rebuild"]


def test_a_malformed_licence_is_an_evidence_error() -> None:
    with pytest.raises(EvidenceError, match=r"licences\[0\]"):
        parse_evidence(evidence(licences=[{"expiration_date": "2027-01-01"}]))
    doc = evidence(licences=LICENCES)
    assert parse_evidence(doc).to_dict()["licences"] == [
        {"entitlement_id": "ABC1-DEF2", "expiration_date": "2027-09-01"}]
