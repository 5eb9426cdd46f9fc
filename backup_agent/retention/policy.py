"""Retention as plain data and one pure function, with restic's semantics.

``apply(points, policy, now)`` returns what to keep, what to remove and, for every point, why.
Rules are OR-ed: a point is kept when any rule keeps it. Bucket rules (hourly, daily, weekly,
monthly, yearly) walk the points newest first and keep the newest point of each natural
calendar bucket (UTC; ISO weeks) until their count is used up; ``keep_last`` keeps the newest
N; ``keep_within`` keeps everything taken within that long before ``now``.

Whatever the rules say, a point is kept when it is pinned, when it belongs to a checkpoint that
is not released, or when it is the newest verified point of its kind. A point past its
``expires`` (agent snapshots) is no candidate for the rules: it goes unless protected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from backup_agent.duration import duration_text, parse_duration
from backup_agent.errors import ConfigError

BUCKETS: tuple[tuple[str, str, Callable[[datetime], tuple[int, ...]]], ...] = (
    ("keep_hourly", "hourly", lambda t: (t.year, t.month, t.day, t.hour)),
    ("keep_daily", "daily", lambda t: (t.year, t.month, t.day)),
    ("keep_weekly", "weekly", lambda t: tuple(t.isocalendar())[:2]),
    ("keep_monthly", "monthly", lambda t: (t.year, t.month)),
    ("keep_yearly", "yearly", lambda t: (t.year,)),
)
RULE_KEYS = ("keep_last", *(b[0] for b in BUCKETS), "keep_within")


@dataclass(frozen=True)
class Policy:
    """Counts per rule (None: rule not written) and ``keep_within``. Never empty."""

    keep_last: int | None = None
    keep_hourly: int | None = None
    keep_daily: int | None = None
    keep_weekly: int | None = None
    keep_monthly: int | None = None
    keep_yearly: int | None = None
    keep_within: timedelta | None = None

    @property
    def empty(self) -> bool:
        return all(getattr(self, key) is None for key in RULE_KEYS)

    def to_dict(self) -> dict[str, Any]:
        """The rules written, and only those (``keep_within`` as a duration string)."""
        out: dict[str, Any] = {}
        for key in RULE_KEYS:
            val = getattr(self, key)
            if val is not None:
                out[key] = duration_text(val) if isinstance(val, timedelta) else val
        return out

    @classmethod
    def from_mapping(cls, where: str, raw: Mapping[str, Any]) -> Policy:
        """A policy from a ``[retention]`` table's keep_* keys; other keys are not its business."""
        values: dict[str, Any] = {}
        for key in RULE_KEYS:
            if key not in raw:
                continue
            val = raw[key]
            if key == "keep_within":
                if not isinstance(val, str):
                    raise ConfigError(f"{where}.{key}: expected a duration string like \"14d\"")
                values[key] = parse_duration(val, f"{where}.{key}")
            elif not isinstance(val, int) or isinstance(val, bool) or val < 1:
                raise ConfigError(f"{where}.{key}: expected a whole number of at least 1, got {val!r}")
            else:
                values[key] = val
        policy = cls(**values)
        if policy.empty:
            raise ConfigError(f"{where}: an empty retention policy is refused (write at least one "
                              f"of {', '.join(RULE_KEYS)})")
        return policy


@dataclass(frozen=True)
class Point:
    """What retention needs to know of a restore point."""

    id: str
    kind: str
    taken_at: datetime
    verified: bool = False
    pinned: bool = False
    checkpoint: str | None = None  # the checkpoint it belongs to, while not released
    expires: datetime | None = None


@dataclass
class Result:
    keep: list[Point] = field(default_factory=list)
    remove: list[Point] = field(default_factory=list)
    reasons: dict[str, list[str]] = field(default_factory=dict)  # id -> why kept / removed


def apply(points: Iterable[Point], policy: Policy, now: datetime) -> Result:
    """Split ``points`` into keep and remove under ``policy`` at ``now`` (see the module doc)."""
    if not isinstance(policy, Policy) or policy.empty:
        raise ConfigError("an empty retention policy is refused: it would remove everything")
    return _decide(points, policy, now)


def keep_unexpired(points: Iterable[Point], now: datetime) -> Result:
    """No rule for this kind: keep every point except the expired ones (still protected)."""
    return _decide(points, None, now)


def _decide(points: Iterable[Point], policy: Policy | None, now: datetime) -> Result:
    ordered = sorted(points, key=lambda p: (p.taken_at, p.id), reverse=True)
    reasons: dict[str, list[str]] = {p.id: _protections(p, ordered) for p in ordered}
    candidates = [p for p in ordered if p.expires is None or p.expires > now]
    if policy is None:
        for p in candidates:
            reasons[p.id].append("no retention rule for its kind")
    else:
        _apply_rules(candidates, policy, now, reasons)
    result = Result(reasons=reasons)
    for p in ordered:
        if reasons[p.id]:
            result.keep.append(p)
        else:
            expired = p.expires is not None and p.expires <= now
            reasons[p.id] = [f"expired {p.expires:%Y-%m-%dT%H:%M:%SZ}" if expired and p.expires
                             else "no rule keeps it"]
            result.remove.append(p)
    return result


def _protections(p: Point, ordered: Sequence[Point]) -> list[str]:
    out = []
    if p.pinned:
        out.append("pinned")
    if p.checkpoint:
        out.append(f"checkpoint {p.checkpoint}")
    newest = next((q for q in ordered if q.kind == p.kind and q.verified), None)
    if newest is p:
        out.append(f"newest verified {p.kind}")
    return out


def _apply_rules(points: Sequence[Point], policy: Policy, now: datetime,
                 reasons: dict[str, list[str]]) -> None:
    if policy.keep_last:
        for n, p in enumerate(points[:policy.keep_last], 1):
            reasons[p.id].append(f"last #{n}")
    for key, label, bucket in BUCKETS:
        count = getattr(policy, key)
        if not count:
            continue
        last: tuple[int, ...] | None = None
        kept = 0
        for p in points:
            if kept == count:
                break
            val = bucket(p.taken_at.astimezone(UTC))
            if val != last:
                last, kept = val, kept + 1
                reasons[p.id].append(f"{label} #{kept}")
    if policy.keep_within is not None:
        since = now - policy.keep_within
        for p in points:
            if p.taken_at >= since:
                reasons[p.id].append(f"within {duration_text(policy.keep_within)}")
