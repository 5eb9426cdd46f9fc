"""One time format: the catalog, the plan and the evidence write and read times the same way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from backup_agent.catalog import iso as catalog_iso
from backup_agent.errors import EvidenceError
from backup_agent.planner.evidence import format_time, parse_time
from backup_agent.planner.facts import human_time
from backup_agent.timefmt import human, iso, parse_iso, stamp

MOMENT = datetime(2026, 11, 26, 11, 15, 2, 123456, tzinfo=timezone(timedelta(hours=1)))


def test_planner_and_catalog_format_alike() -> None:
    """The planner wrote microseconds (isoformat), the catalog seconds: now one form."""
    assert iso(MOMENT) == catalog_iso(MOMENT) == format_time(MOMENT) == "2026-11-26T10:15:02Z"
    assert human(MOMENT) == human_time(MOMENT) == "2026-11-26 10:15 UTC"
    assert stamp(MOMENT) == "20261126T101502Z"
    assert stamp(MOMENT, micro=True) == "20261126T101502123456Z"


def test_parse_round_trips_and_refuses_a_time_without_a_zone() -> None:
    assert parse_iso(iso(MOMENT)) == MOMENT.replace(microsecond=0)
    assert parse_iso("2026-11-26T11:15:02+01:00") == datetime(2026, 11, 26, 10, 15, 2, tzinfo=UTC)
    assert parse_time("2026-11-26T10:15:02Z", "x") == parse_iso("2026-11-26T10:15:02Z")
    with pytest.raises(ValueError, match="no timezone"):
        parse_iso("2026-11-26T10:15:02")
    with pytest.raises(ValueError, match="naive"):
        iso(datetime(2026, 11, 26))  # naive on purpose
    with pytest.raises(EvidenceError, match=r"down_since: no timezone"):
        parse_time("2026-11-26T10:15:02", "down_since")
    with pytest.raises(EvidenceError, match="not an ISO 8601 timestamp"):
        parse_time("yesterday", "down_since")
