"""The autonomy clock: when it applies, the deadline, and the level at its edges."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backup_agent.planner.clock import autonomy_clock
from backup_agent.planner.evidence import parse_evidence
from tests.planner.helpers import NOW, cn, evidence

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)

# (name, time elapsed since down_since at NOW, level, remaining_hours)
EDGES = [
    ("0 h elapsed", timedelta(0), "warning", 336.0),
    ("73 h left", 14 * DAY - 73 * HOUR, "warning", 73.0),
    ("72 h left", 14 * DAY - 72 * HOUR, "critical", 72.0),
    ("1 s before the deadline", 14 * DAY - timedelta(seconds=1), "critical", 0.0),
    ("the deadline exactly", 14 * DAY, "expired", 0.0),
    ("14 days + 1 s", 14 * DAY + timedelta(seconds=1), "expired", 0.0),
    ("a day late", 15 * DAY, "expired", -24.0),
]


@pytest.mark.parametrize(("elapsed", "level", "hours"), [e[1:] for e in EDGES], ids=[e[0] for e in EDGES])
def test_clock_edges(elapsed: timedelta, level: str, hours: float) -> None:
    clock = autonomy_clock(parse_evidence(evidence(down_since=NOW - elapsed)))
    assert clock.applies
    assert clock.level == level
    assert clock.remaining_hours == hours
    assert clock.deadline == NOW - elapsed + 14 * DAY
    assert clock.remaining == 14 * DAY - elapsed


def test_one_second_past_the_deadline_is_negative_time() -> None:
    clock = autonomy_clock(parse_evidence(evidence(down_since=NOW - 14 * DAY - timedelta(seconds=1))))
    assert clock.remaining == timedelta(seconds=-1)
    assert clock.to_dict()["deadline"] == "2026-11-26T09:59:59Z"


@pytest.mark.parametrize(("mn", "cns", "applies"), [
    ("up", ["up", "up"], False),
    ("down", ["up", "down"], True),
    ("down", ["unknown", "down"], True),  # a node that may still run keeps the clock going
    ("down", ["down", "down"], False),  # nothing left to keep running
    ("unknown", ["up"], True),  # an unconfirmed Management Node is planned for as down
    ("down", [], False),
])
def test_when_the_clock_applies(mn: str, cns: list[str], applies: bool) -> None:
    doc = evidence(mn_status=mn, cns=[cn(f"cn-{i}", s) for i, s in enumerate(cns)])
    clock = autonomy_clock(parse_evidence(doc))
    assert clock.applies is applies
    if not applies:
        assert clock.level == "none"
        assert clock.to_dict()["deadline"] is None
        assert clock.to_dict()["remaining_hours"] is None


def test_declared_failure_starts_the_clock() -> None:
    doc = evidence(mn_status="up", failed=["management"])
    assert autonomy_clock(parse_evidence(doc)).level == "warning"


def test_unknown_without_last_contact_is_critical_without_a_deadline() -> None:
    clock = autonomy_clock(parse_evidence(evidence(mn_status="unknown", down_since=None)))
    assert clock.applies and clock.level == "critical"
    assert clock.deadline is None and clock.remaining_hours is None


def test_to_dict_keys_are_the_contract() -> None:
    data = autonomy_clock(parse_evidence(evidence())).to_dict()
    assert data == {"applies": True, "down_since": "2026-11-20T08:00:00Z",
                    "deadline": "2026-12-04T08:00:00Z", "remaining_hours": 190.0, "level": "warning"}
