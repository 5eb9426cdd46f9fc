"""A restore point served from its off-site copy: offered, its download in the estimate."""

from __future__ import annotations

from typing import Any

import pytest

from backup_agent.errors import EvidenceError
from backup_agent.planner import make_plan, parse_evidence
from tests.planner.helpers import backup, days_before, evidence, export


def path(doc: dict[str, Any], kind: str) -> dict[str, Any]:
    plan = make_plan(parse_evidence(doc)).to_dict()
    return next(p for p in plan["paths"] if p["kind"] == kind)  # type: ignore[no-any-return]


def test_the_download_is_in_the_estimate_and_the_steps() -> None:
    local = path(evidence(points=[backup("cb-1", days_before(1))]), "restore-backup")
    remote_point = {**backup("cb-1", days_before(1)), "copy": {"store": "offsite-s3",
                                                               "bytes": 6_000_000_000}}
    remote = path(evidence(points=[remote_point]), "restore-backup")
    assert remote["ready"] and remote["estimated_minutes"] == local["estimated_minutes"] + 11
    assert any("first fetched from off-site store offsite-s3 (6,000,000,000 bytes)" in s["detail"]
               for s in remote["steps"])
    assert not any("off-site" in s["detail"] for s in local["steps"])


def test_a_room_import_from_a_copy_counts_its_download() -> None:
    lost = {"lost_rooms": ["VMR 1"]}
    local = path(evidence("up", None, points=[export("re-1", days_before(1))], **lost), "import-rooms")
    point = {**export("re-1", days_before(1)), "copy": {"store": "gcs", "bytes": 1}}
    remote = path(evidence("up", None, points=[point], **lost), "import-rooms")
    assert remote["estimated_minutes"] == local["estimated_minutes"] + 2


@pytest.mark.parametrize(("copy", "message"), [
    ({"store": "s3"}, r"restore_points\[0\].copy: missing required key 'bytes'|copy.bytes"),
    ({"store": "s3", "bytes": -1}, r"restore_points\[0\].copy.bytes: expected a whole number"),
    ({"bytes": 3}, r"restore_points\[0\].copy"),
    ("s3", r"restore_points\[0\].copy"),
])
def test_a_malformed_copy_is_an_evidence_error(copy: Any, message: str) -> None:
    with pytest.raises(EvidenceError, match=message):
        parse_evidence(evidence(points=[{**backup("cb-1", days_before(1)), "copy": copy}]))


def test_a_copy_round_trips_through_the_evidence_json() -> None:
    doc = evidence(points=[{**backup("cb-1", days_before(1)), "copy": {"store": "s3", "bytes": 5}}])
    again = parse_evidence(parse_evidence(doc).to_dict())
    assert again.restore_points[0].copy_store == "s3" and again.restore_points[0].copy_bytes == 5
