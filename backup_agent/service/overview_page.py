"""What a deployment's page of the console shows, beyond its card: the restore points
(filterable by kind), the runs, the plan for a declared failure (as ``plan --failed`` takes
it, from the catalog alone), the restore journal and the drill history with measured times.

Like the card, pure reads of the catalog and the configuration: the plan is the live
``plan``'s evidence (``collect``) without its probes, over every restore point of this one
deployment. The runbook is the planner's own Markdown, which the web layer renders safely.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backup_agent.catalog import KINDS, JournalStep, Restore, Run
from backup_agent.config import Deployment
from backup_agent.errors import AgentError, UsageError
from backup_agent.jobs.env import Env
from backup_agent.planner.paths import RestorePath
from backup_agent.service.overview import Card, Moment, Point, RunLine, card, moment, point, run_line
from backup_agent.timefmt import parse_iso

POINTS_SHOWN = 200  # restore points on the page, the newest first
RUNS_SHOWN = 50
RESTORES_SHOWN = 20
DRILLS_SHOWN = 20


@dataclass(frozen=True)
class Plan:
    """The plan for the declared failure: its runbook (Markdown) and paths, or why none."""

    failed: tuple[str, ...]
    down_since: str | None
    priority: str | None = None
    runbook: str | None = None
    paths: tuple[RestorePath, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class RestoreLine:
    """A restore or resumed restore of the journal, with its steps as they stand."""

    id: str
    path: int
    kind: str
    target: str
    restore_point: str | None
    state: str
    started: Moment
    finished: Moment | None
    steps: tuple[JournalStep, ...]  # the catalog's own records, in order


@dataclass(frozen=True)
class DrillLine:
    """A drill: its scenario, how it ended, the measured minutes of each path."""

    run: RunLine
    scenario: str | None
    seconds: float | None
    verified: bool | None
    paths: tuple[tuple[str, float], ...]  # (path kind, minutes)


@dataclass(frozen=True)
class Page:
    card: Card
    kind: str | None
    points: tuple[Point, ...]
    runs: tuple[RunLine, ...]
    plan: Plan
    restores: tuple[RestoreLine, ...]
    drills: tuple[DrillLine, ...]
    nodes: tuple[str, ...]  # what a failure may name: management and each known node


def page(env: Env, deployment: Deployment, kind: str | None, failed: Iterable[str],
         down_since: str | None, alerts: Iterable[Any] = ()) -> Page:
    """The page of ``deployment``; ``kind`` filters the restore points (UsageError when it is
    not a kind); a failure that cannot be planned is the plan's ``error``, not an exception."""
    if kind is not None and kind not in KINDS:
        raise UsageError(f"kind {kind!r}: not a restore point kind (one of {', '.join(KINDS)})")
    now = env.clock()
    points = env.catalog.restore_points(deployment.name, kind, limit=POINTS_SHOWN)
    runs = env.catalog.runs(deployment.name, limit=RUNS_SHOWN)
    drills = env.catalog.runs(deployment.name, limit=DRILLS_SHOWN, job="drill")
    restores = env.catalog.restores(deployment.name, limit=RESTORES_SHOWN)
    return Page(card(env, deployment, alerts), kind, tuple(point(p, now) for p in points),
                tuple(run_line(r, now) for r in runs),
                plan(env, deployment, tuple(dict.fromkeys(failed)), down_since),
                tuple(restore_line(r, now) for r in restores), tuple(drill_line(r, now) for r in drills),
                known_nodes(env, deployment))


def known_nodes(env: Env, deployment: Deployment) -> tuple[str, ...]:
    """``management`` and the Conferencing Nodes of the newest inventory (else agent.toml)."""
    from backup_agent.jobs import inventory

    rp = env.catalog.latest(deployment.name, "inventory")
    names: list[str] = []
    if rp is not None:
        try:
            names = [str(n.get("name")) for n in inventory.load(env, rp).get("conferencing_nodes", [])]
        except AgentError:
            names = []
    if not names:
        names = [n.name for n in deployment.nodes if n.role == "conferencing"]
    return ("management", *sorted(set(names)))


def plan(env: Env, deployment: Deployment, failed: tuple[str, ...], down_since: str | None) -> Plan:
    """The plan for ``failed`` (and ``down_since``) as ``plan`` makes it, without probes."""
    from backup_agent.jobs.evidence import collect
    from backup_agent.planner import make_plan, parse_evidence, to_markdown

    since: datetime | None = None
    try:
        if down_since:
            try:
                since = parse_iso(down_since)
            except ValueError:
                raise UsageError(f"down since {down_since!r}: not a time with a timezone "
                                 "(2026-11-26T10:00:00Z)") from None
        evidence = collect(env, deployment, list(failed), since, probe=False, deep=False)
        made = make_plan(parse_evidence(evidence))
    except AgentError as exc:
        return Plan(failed, down_since, error=str(exc))
    return Plan(failed, down_since, made.priority, to_markdown(made),
                tuple(made.paths))


def restore_line(r: Restore, now: datetime) -> RestoreLine:
    steps = tuple(s for _, s in sorted(r.steps.items()))
    return RestoreLine(r.id, r.path_number, r.kind, r.target, r.restore_point, str(r.state),
                       moment(r.started_at, now), moment(r.finished_at, now) if r.finished_at else None,
                       steps)


def drill_line(run: Run, now: datetime) -> DrillLine:
    s = run.summary
    paths = tuple((str(p.get("kind")), float(p.get("minutes") or 0))
                  for p in s.get("drilled_paths") or s.get("paths") or [] if isinstance(p, dict))
    verification = s.get("verification")
    verified = verification.get("verified") if isinstance(verification, dict) else None
    seconds = s.get("seconds")
    return DrillLine(run_line(run, now), s.get("scenario"),
                     float(seconds) if isinstance(seconds, int | float) else None,
                     bool(verified) if verified is not None else None, paths)
