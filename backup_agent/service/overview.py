"""What the console shows: a deployment's card and its page, as plain typed data.

Pure reads of the catalog and the configuration, never a live probe: a page that 50 people
reload during a P1 must not hammer a Management Node that is already struggling. Whether the
Management Node is up is what the daemon's last watch run found (:func:`service.status.watched`,
as the API says it), and the autonomy clock runs from the last contact exactly as ``status``
computes it (:func:`service.status.autonomy`).

Speed: the index page shows 50 deployments of 10,000 restore points each in well under
100 ms, so a card is a handful of indexed queries (the newest point of each kind, the newest
run of each job, the newest snapshots) and a plan from the newest points only
(``collect(newest=...)``); nothing here reads every restore point of a deployment. The
deployment page reads one deployment in full for its plan, as ``plan`` does.

Names here come from the Management Node (node, room, deployment names): they are data for
the templates, which escape them; nothing here builds markup.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from backup_agent.catalog import Kind, RestorePoint, Run, iso, parse_iso
from backup_agent.config import Deployment
from backup_agent.errors import AgentError
from backup_agent.jobs.env import Env
from backup_agent.planner.clock import hours_text
from backup_agent.planner.paths import RestorePath
from backup_agent.service.status import age_text, autonomy, watched

#: The kinds a card shows the newest of, in this order.
CARD_KINDS = (Kind.CONFIG_BACKUP, Kind.ROOM_EXPORT, Kind.SNAPSHOT, Kind.CHECKPOINT, Kind.INVENTORY)
CARD_SNAPSHOTS = 5  # agent snapshots on a card, the newest first
PLAN_POINTS = 5  # the newest points of each kind the card's plan is made from
MANAGEMENT_LOST = "management"


@dataclass(frozen=True)
class Moment:
    """A time as the console shows it: UTC, with how long ago (or how long until) it is."""

    iso: str  # 2026-11-26T10:15:02Z, for <time datetime=...> and scripts
    text: str  # 2026-11-26 10:15 UTC
    relative: str  # "5 min ago", "in 3 days"
    seconds: int  # now - then: negative in the future

    @property
    def future(self) -> bool:
        return self.seconds < 0


def moment(then: datetime, now: datetime, *, nearest: bool = False) -> Moment:
    """``then`` seen from ``now``. A future time rounds to the nearest unit (a deadline 13.99
    days away is "in 14 days"), a past one floors unless ``nearest``, as ages are said."""
    seconds = int((now - then).total_seconds())
    relative = (f"{age_text(then, now, nearest=nearest)} ago" if seconds >= 0
                else f"in {age_text(now, then, nearest=True)}")
    stamp = iso(then)  # human() from it: a page formats a thousand of these
    return Moment(stamp, f"{stamp[:10]} {stamp[11:16]} UTC", relative, seconds)


def _maybe(text: str | None, now: datetime, *, nearest: bool = False) -> Moment | None:
    if not text:
        return None
    try:
        return moment(parse_iso(text), now, nearest=nearest)
    except ValueError:  # data kept by another agent's version; never a reason for a 500
        return None


@dataclass(frozen=True)
class Management:
    """The Management Node as the agent last found it (``up``, ``down`` or ``unknown``)."""

    status: str
    last_contact: Moment | None
    last_error: str | None
    last_error_at: Moment | None


@dataclass(frozen=True)
class Clock:
    """The autonomy clock; ``applies`` False with ``note`` saying why when it does not run."""

    applies: bool
    level: str  # none | warning | critical | expired
    down_since: Moment | None = None
    deadline: Moment | None = None
    remaining_hours: float | None = None
    remaining: str = ""  # "190.0 h left", "passed 2.0 h ago", "unknown"
    note: str | None = None


@dataclass(frozen=True)
class Point:
    """One restore point as a line of the console."""

    id: str
    kind: str
    taken: Moment
    verified: bool
    version: str | None
    node: str | None
    size: int
    expires: Moment | None = None
    detail: str | None = None  # a checkpoint's readiness, a snapshot's reason


@dataclass(frozen=True)
class RunLine:
    """One run: its job, when, how it ended and why."""

    id: str
    job: str
    started: Moment
    seconds: float | None
    outcome: str  # completed | partially_failed | failed | running
    reasons: tuple[str, ...]
    actor: str | None = None  # who started it (token:NAME, cli:USER), None for the schedule


@dataclass(frozen=True)
class Alert:
    """An open alert of the daemon's alerter: its condition and state."""

    key: str
    state: str


@dataclass(frozen=True)
class Card:
    """A deployment's card on the index page."""

    name: str
    management: Management
    clock: Clock
    newest: tuple[tuple[str, Point | None], ...]
    runs: tuple[RunLine, ...]
    snapshots: tuple[Point, ...]
    alerts: tuple[Alert, ...]
    plan_priority: str | None = None
    top_path: RestorePath | None = None  # the planner's own record; the card omits its steps
    plan_note: str | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)


def management(env: Env, deployment: Deployment, now: datetime) -> Management:
    """As the daemon's last watch run found it (``status``'s :func:`watched`, the API's
    answer too): up, down with why, or unknown before the first watch; the last contact from
    the catalog's record of it."""
    status, _, why = watched(env, deployment)
    c = env.catalog.contact(deployment.name)
    return Management(status if status in ("up", "down") else "unknown",
                      _maybe(c["last_contact"], now), why if status == "down" else None,
                      _maybe(c["last_error_at"], now) if status == "down" else None)


def clock(env: Env, deployment: Deployment, mn: Management) -> Clock:
    """The autonomy clock of ``status`` from the watch's record (only while it says down)."""
    if mn.status == "unknown":
        return Clock(False, "none", note="the daemon's watch has not run yet")
    if mn.status == "up":
        return Clock(False, "none", note="the Management Node answers: no autonomy clock runs")
    data, note = autonomy(env, deployment, "down", None,
                          mn.last_contact.iso if mn.last_contact else None)
    if data is None:
        return Clock(False, "critical", note=note)
    return clock_of(data, env.clock(), note)


def clock_of(data: Mapping[str, Any], now: datetime, note: str | None = None) -> Clock:
    """A :class:`Clock` from the plan JSON's ``autonomy`` object."""
    if not data.get("applies"):
        return Clock(False, "none", _maybe(data.get("down_since"), now),
                     note=note or "no Conferencing Node is left running, or the Management "
                                  "Node answers")
    hours = data.get("remaining_hours")
    remaining = ("unknown (no last contact on record)" if hours is None
                 else f"passed {hours_text(hours)} ago" if hours <= 0 else f"{hours_text(hours)} left")
    return Clock(True, str(data["level"]), _maybe(data.get("down_since"), now),
                 # rounded either side of it, as hours_text rounds "passed 2.0 h ago"
                 _maybe(data.get("deadline"), now, nearest=True), hours, remaining, note)


def point(rp: RestorePoint, now: datetime) -> Point:
    """A restore point as a line; sizes summed over its files."""
    data = rp.data
    detail = None
    if rp.kind is Kind.CHECKPOINT:
        detail = "ready to upgrade" if data.get("ready") else "; ".join(
            str(r) for r in data.get("reasons", []) or ["not ready"])
        if data.get("released_at"):
            detail += f" (released {data['released_at']})"
    elif rp.kind is Kind.SNAPSHOT and data.get("reason"):
        detail = str(data["reason"])
    expires = data.get("expires")
    return Point(rp.id, str(rp.kind), moment(rp.taken_at, now), rp.verified, rp.version, rp.node,
                 sum(f.size for f in rp.files),
                 _maybe(expires, now) if isinstance(expires, str) else None, detail)


def run_line(run: Run, now: datetime) -> RunLine:
    seconds = (run.finished_at - run.started_at).total_seconds() if run.finished_at else None
    reasons = tuple(f"{item}: {why}" if why else item for item, why in run.failures())
    actor = run.actor if run.actor and run.actor != "schedule" else None
    return RunLine(run.id, run.job, moment(run.started_at, now), seconds,
                   str(run.outcome) if run.outcome else "running", reasons,
                   actor)


def alerts_of(alerts: Iterable[Any], deployment: str) -> tuple[Alert, ...]:
    """The open alerts of one deployment from the alerter's list (mappings or objects with
    ``deployment``, ``key`` and ``state``)."""
    out = []
    for a in alerts:
        get = a.get if isinstance(a, Mapping) else (lambda k, a=a: getattr(a, k, None))
        if get("deployment") == deployment and get("state"):
            out.append(Alert(str(get("key")), str(get("state"))))
    return tuple(sorted(out, key=lambda a: a.key))


class _Memo:
    """The card's top path, remembered while what it is made of is unchanged.

    The key holds what the plan is made of and can change: the newest point of each kind (and
    whether it is verified), the newest drill, the Management Node's record, the configuration
    object (a reload makes a new one). An older point verified or deleted does not change the
    key, so an entry also expires after :data:`TOP_PATH_SECONDS`.
    """

    def __init__(self, seconds: float, size: int = 512) -> None:
        self.seconds, self.size = seconds, size
        self._entries: dict[tuple[Any, ...], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(key)
        if hit is not None and now - hit[0] < self.seconds:
            return hit[1]
        value = make()
        with self._lock:
            if len(self._entries) >= self.size:
                self._entries.clear()
            self._entries[key] = (now, value)
        return value


TOP_PATH_SECONDS = 30.0
_TOP_PATHS = _Memo(TOP_PATH_SECONDS)


def card(env: Env, deployment: Deployment, alerts: Iterable[Any] = ()) -> Card:
    """The card of one deployment (a few indexed queries; see the module docstring)."""
    now = env.clock()
    mn = management(env, deployment, now)
    newest = tuple((str(k), None if (rp := env.catalog.latest(deployment.name, k)) is None
                    else point(rp, now)) for k in CARD_KINDS)
    runs = sorted(env.catalog.latest_runs(deployment.name), key=lambda r: r.started_at, reverse=True)
    snaps = env.catalog.restore_points(deployment.name, Kind.SNAPSHOT, limit=CARD_SNAPSHOTS)
    drill = next((r for r in runs if r.job == "drill"), None)
    key = (str(env.config.catalog_path), id(env.config), deployment.name, mn.status,
           mn.last_contact.iso if mn.last_contact else None,
           drill.id if drill else None, drill.outcome if drill else None,
           tuple((k, p.id, p.verified) if p else (k,) for k, p in newest))
    priority, top, note = _TOP_PATHS.get(key, lambda: top_path(env, deployment))
    shown = tuple(point(s, now) for s in snaps)
    expired = tuple(f"agent snapshot {p.id} of {p.node} is past its expiry ({p.expires.text})"
                    for p in shown if p.expires is not None and not p.expires.future)
    return Card(deployment.name, mn, clock(env, deployment, mn), newest,
                tuple(run_line(r, now) for r in runs), shown, alerts_of(alerts, deployment.name),
                priority, top, note, expired)


def top_path(env: Env, deployment: Deployment) -> tuple[str | None, RestorePath | None, str | None]:
    """The plan's first path for "the Management Node is lost" (priority, path, or why not),
    from the catalog alone and its newest points: what the live ``plan --failed management``
    builds its evidence with (``collect``), without the probes."""
    from backup_agent.jobs.evidence import collect
    from backup_agent.planner import make_plan, parse_evidence
    from backup_agent.planner.runbook import recommended

    since = None
    if env.catalog.contact(deployment.name)["last_contact"] is None:
        since = env.clock()  # never reached: plan as if lost now (the card says it is not known)
    try:
        evidence = collect(env, deployment, [MANAGEMENT_LOST], since, probe=False, deep=False,
                           newest=PLAN_POINTS)
        plan = make_plan(parse_evidence(evidence))
    except AgentError as exc:
        return None, None, str(exc)
    chosen = recommended(plan)
    if not chosen:
        return plan.priority, None, "no restore path"
    return plan.priority, chosen[0], None


URGENCY = {"expired": 0, "critical": 1, "warning": 2}


def urgent_first(shown: list[Card]) -> list[Card]:
    """The cards a P1 call looks for first: the autonomy clock by level (expired, critical,
    running), then a Management Node down, then the rest, each group in agent.toml's order."""
    def rank(c: Card) -> int:
        if c.clock.applies or c.clock.level == "critical":
            return URGENCY.get(c.clock.level, 2)
        return 3 if c.management.status == "down" else 4
    return sorted(shown, key=rank)  # stable: agent.toml's order within a rank


def cards(env: Env, deployments: Iterable[Deployment], alerts: Iterable[Any] = ()) -> list[Card]:
    """Every deployment's card; one whose card cannot be made says why on a card of its own."""
    open_alerts = list(alerts)
    out = []
    for dep in deployments:
        try:
            out.append(card(env, dep, open_alerts))
        except AgentError as exc:  # the catalog or store failing: said on the card
            out.append(Card(dep.name, Management("unknown", None, None, None),
                            Clock(False, "none", note=str(exc)), (), (), (),
                            alerts_of(open_alerts, dep.name), plan_note=str(exc),
                            warnings=(str(exc),)))
    return out
