"""retention.apply: restic's semantics, the protections, and an empty policy refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backup_agent.errors import ConfigError
from backup_agent.retention import Point, Policy, apply, keep_unexpired

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def daily(n: int, kind: str = "config-backup", verified: bool = True, hour: int = 1) -> list[Point]:
    """One point a day at ``hour``, for the ``n`` days before NOW."""
    return [Point(f"p{i}", kind, (NOW - timedelta(days=i)).replace(hour=hour), verified=verified)
            for i in range(1, n + 1)]


def ids(points: list[Point]) -> list[str]:
    return [p.id for p in points]


def test_keep_daily_keeps_the_newest_of_each_day_and_names_the_rule() -> None:
    points = [*daily(10), Point("p1-early", "config-backup", (NOW - timedelta(days=1)).replace(hour=0))]
    result = apply(points, Policy(keep_daily=3), NOW)
    assert ids(result.keep) == ["p1", "p2", "p3"]
    assert result.reasons["p1"] == ["newest verified config-backup", "daily #1"]
    assert result.reasons["p3"] == ["daily #3"]
    assert "p1-early" in ids(result.remove) and result.reasons["p1-early"] == ["no rule keeps it"]


def test_weekly_buckets_are_iso_weeks_and_monthly_natural_months() -> None:
    points = daily(60)
    result = apply(points, Policy(keep_weekly=2, keep_monthly=2), NOW)
    # NOW is Monday 30 Nov: p1 (Sunday 29th) closes ISO week 48, p8 (Sunday 22nd) week 47.
    assert result.reasons["p1"][-2:] == ["weekly #1", "monthly #1"]
    assert result.reasons["p8"] == ["weekly #2"]
    # The newest point of October is 31 Oct, 30 days before NOW.
    assert result.reasons["p30"] == ["monthly #2"]
    assert len(result.keep) == 3


def test_rules_are_ored_and_keep_within_counts_from_now() -> None:
    points = daily(20)
    result = apply(points, Policy(keep_last=2, keep_within=timedelta(days=5), keep_yearly=1), NOW)
    assert ids(result.keep) == ["p1", "p2", "p3", "p4"]  # p5 is 5 d 11 h old
    assert "last #2" in result.reasons["p2"] and "within 5d" in result.reasons["p2"]
    assert "yearly #1" in result.reasons["p1"]


def test_hourly_buckets() -> None:
    points = [Point(f"m{i}", "room-export", NOW - timedelta(minutes=20 * i)) for i in range(12)]
    result = apply(points, Policy(keep_hourly=2), NOW)
    # 12:00, 11:40 (hour 11), then 10:40 opens hour 10: the newest of hour 11 and of hour 12.
    assert ids(result.keep) == ["m0", "m1"]


def test_never_removes_the_newest_verified_point_of_a_kind() -> None:
    old_verified = Point("old", "config-backup", NOW - timedelta(days=100), verified=True)
    unverified = [Point(f"u{i}", "config-backup", NOW - timedelta(days=i), verified=False)
                  for i in range(1, 4)]
    result = apply([old_verified, *unverified], Policy(keep_last=1), NOW)
    assert set(ids(result.keep)) == {"u1", "old"}
    assert result.reasons["old"] == ["newest verified config-backup"]


def test_pinned_and_checkpoint_points_are_kept() -> None:
    points = [Point("pin", "room-export", NOW - timedelta(days=50), pinned=True),
              Point("cp", "room-export", NOW - timedelta(days=60), checkpoint="cp-1"),
              *daily(3, "room-export")]
    result = apply(points, Policy(keep_last=1), NOW)
    assert result.reasons["pin"] == ["pinned"] and result.reasons["cp"] == ["checkpoint cp-1"]


def test_expired_snapshots_go_unless_protected() -> None:
    snaps = [Point(f"s{i}", "snapshot", NOW - timedelta(days=20 - i), verified=True,
                   expires=NOW - timedelta(days=6 - i)) for i in range(3)]  # expired 6, 5, 4 days ago
    fresh = Point("fresh", "snapshot", NOW - timedelta(days=1), verified=True, expires=NOW + timedelta(days=13))
    result = keep_unexpired([*snaps, fresh], NOW)
    assert ids(result.keep) == ["fresh"]
    assert result.reasons["s0"][0].startswith("expired ")
    # The rules do not keep an expired point; a pin does.
    pinned = Point("s-pin", "snapshot", NOW - timedelta(days=30), expires=NOW - timedelta(days=16), pinned=True)
    result = apply([*snaps, pinned, fresh], Policy(keep_last=10), NOW)
    assert ids(result.keep) == ["fresh", "s-pin"]


def test_an_empty_policy_is_refused() -> None:
    with pytest.raises(ConfigError, match="empty retention policy"):
        apply(daily(3), Policy(), NOW)
    with pytest.raises(ConfigError, match="empty retention policy"):
        Policy.from_mapping("retention", {})


@pytest.mark.parametrize(("raw", "message"), [
    ({"keep_daily": 0}, r"retention.keep_daily: expected a whole number of at least 1"),
    ({"keep_daily": True}, r"retention.keep_daily: expected a whole number"),
    ({"keep_within": 7}, r"retention.keep_within: expected a duration"),
    ({"keep_within": "7 fortnights"}, r"retention.keep_within: '7 fortnights' is not a duration"),
])
def test_bad_rules_name_the_key(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Policy.from_mapping("retention", raw)


moments = st.integers(min_value=0, max_value=400 * 24).map(lambda h: NOW - timedelta(hours=h))
point_lists = st.lists(st.tuples(moments, st.booleans(), st.booleans()), max_size=40).map(
    lambda xs: [Point(f"p{i}", "config-backup", t, verified=v, pinned=pin) for i, (t, v, pin) in enumerate(xs)])
policies = st.builds(Policy, keep_last=st.none() | st.integers(1, 5), keep_daily=st.none() | st.integers(1, 10),
                     keep_weekly=st.none() | st.integers(1, 5), keep_monthly=st.none() | st.integers(1, 3),
                     keep_within=st.none() | st.integers(1, 30).map(lambda d: timedelta(days=d))
                     ).filter(lambda p: not p.empty)


@settings(max_examples=200, deadline=None)
@given(point_lists, policies)
def test_properties(points: list[Point], policy: Policy) -> None:
    result = apply(points, policy, NOW)
    assert sorted(ids(result.keep) + ids(result.remove)) == sorted(ids(points))
    assert all(result.reasons[p.id] for p in points)  # every point says why
    assert all(p.id in ids(result.keep) for p in points if p.pinned)
    verified = sorted((p for p in points if p.verified), key=lambda p: (p.taken_at, p.id))
    if verified:
        assert verified[-1].id in ids(result.keep)
    # Removing more rules never keeps more: keep_last alone keeps at most N plus protections.
    if policy.keep_last and policy == Policy(keep_last=policy.keep_last):
        protected = {p.id for p in points if p.pinned} | ({verified[-1].id} if verified else set())
        assert len(set(ids(result.keep)) - protected) <= policy.keep_last
