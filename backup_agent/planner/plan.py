"""``make_plan(evidence) -> Plan``: which restore paths apply, in which order.

Order of a plan: the paths that bring the Management Node back (alternatives for one target,
ranked), then ``import-rooms``, then one ``redeploy-node`` per lost Conferencing Node (they need
a Management Node, so they come after the path that restores it), then ``rebuild``, always
last. Among alternatives for the same target the ranking is: ready before not ready (a path
that cannot start now is not a choice on a P1 call, however little it would lose), then data
lost, then time to recover, then risk, then restore point id so equal paths keep one order.

Priority by Pexip's support definitions: P1 when every Conferencing Node is down (none runs or
may run) and something failed; P2 when the Management Node is lost, or a whole location has no Conferencing
Node left running (major impact); P3 when a Conferencing Node or rooms are lost with capacity
left; P4 when nothing failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from backup_agent.planner import paths
from backup_agent.planner.clock import Autonomy, autonomy_clock
from backup_agent.planner.evidence import Evidence, RestorePoint
from backup_agent.planner.facts import Facts, derive, name_list, newest
from backup_agent.planner.paths import Draft, RestorePath, Step


@dataclass(frozen=True)
class Plan:
    """Ranked restore paths for one evidence document; ``paths[0]`` is the recommendation."""

    deployment: str
    priority: str
    autonomy: Autonomy
    paths: tuple[RestorePath, ...]
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """The plan JSON of design.md, plus ``notes`` (what the plan could not confirm)."""
        return {
            "deployment": self.deployment,
            "priority": self.priority,
            "autonomy": self.autonomy.to_dict(),
            "paths": [p.to_dict() for p in self.paths],
            "notes": list(self.notes),
        }


def make_plan(evidence: Evidence) -> Plan:
    """Plan the recovery described by ``evidence``; pure and deterministic."""
    f = derive(evidence)
    ranked = _management_drafts(f) + _rooms_drafts(f) + _redeploy_drafts(f) + [paths.rebuild(f)]
    return Plan(
        deployment=evidence.deployment,
        priority=priority(f),
        autonomy=autonomy_clock(evidence),
        paths=_number(f, ranked),
        notes=tuple(_notes(f)),
    )


def _rank_key(d: Draft) -> tuple[bool, float, int, int, str]:
    return (bool(d.blockers), d.lost_seconds, d.minutes, d.risk, d.restore_point or "")


def _pick(points: list[RestorePoint], usable: Callable[[RestorePoint], Any]) -> list[RestorePoint]:
    """The newest usable point, plus the newest of all when that is newer but not usable."""
    best = newest([p for p in points if usable(p)])
    latest = newest(points)
    picked = [p for p in (best, latest) if p is not None]
    return picked[:1] if best is latest else picked


def _management_drafts(f: Facts) -> list[Draft]:
    if not f.mn_lost:
        return []
    drafts = [paths.revert_snapshot(f, s)
              for s in _pick(f.mn_snapshots, lambda p: p.available and p.provider)]
    drafts += [paths.restore_backup(f, b)
               for b in _pick(f.backups, lambda p: p.verified and p.version
                              and not p.passphrase_missing)]
    return sorted(drafts, key=_rank_key)


def _rooms_drafts(f: Facts) -> list[Draft]:
    if f.mn_lost or not f.ev.lost_rooms or f.export is None:
        return []
    return [paths.import_rooms(f, f.export)]


def _redeploy_drafts(f: Facts) -> list[Draft]:
    return [paths.redeploy_node(f, n) for n in sorted(f.failed_cns, key=lambda n: n.name)]


def _number(f: Facts, drafts: list[Draft]) -> tuple[RestorePath, ...]:
    # The path that brings the Management Node back: the best ready alternative, else rebuild.
    management_path = len(drafts)
    for i, d in enumerate(drafts, 1):
        if d.kind in ("revert-snapshot", "restore-backup") and not d.blockers:
            management_path = i
            break
    name = f.ev.management_node.name
    out = []
    for i, d in enumerate(drafts, 1):
        blockers = list(d.blockers)
        steps: list[Step] = d.steps(f.command(i))
        if d.needs_management and f.mn_lost:
            blockers.append(f"needs the Management Node {name}: restore it first "
                            f"(path {management_path})")
            steps = _once_management_is_back(f, d, f.command(i), steps)
        out.append(RestorePath(i, d.kind, d.target, d.restore_point, not blockers, tuple(blockers),
                               d.loses, d.minutes, tuple(steps)))
    return tuple(out)


def _once_management_is_back(f: Facts, d: Draft, command: str, steps: list[Step]) -> list[Step]:
    """``steps`` with ``command`` (this plan's: it declares the Management Node lost, so
    restore would refuse the path for ever) replaced by the command of the plan re-made with
    the node up: import-rooms (when rooms were lost), then a redeploy per lost node, by name."""
    names = sorted(n.name for n in f.failed_cns)
    number = (1 if f.ev.lost_rooms and f.export is not None else 0) + names.index(d.target) + 1
    failed = "".join(f" --failed {n}" for n in names)
    later = f"backup-agent restore --deployment {f.ev.deployment}{failed} --path {number}"
    note = (f"`{later}` once {f.ev.management_node.name} is back (path {number} of "
            f"`backup-agent plan --deployment {f.ev.deployment}{failed}`)")
    return [replace(s, detail=s.detail.replace(f"`{command}`", note)) for s in steps]


def priority(f: Facts) -> str:
    """P1..P4 by Pexip's support definitions (see the module docstring)."""
    if not (f.mn_lost or f.failed_cns or f.ev.lost_rooms):
        return "P4"
    # A Conferencing Node of unknown status may still run: with the Management Node down it
    # cannot be asked, and calling every such outage "system down" would cry wolf. The plan's
    # notes say what the priority rests on.
    if not (f.running_cns or f.unknown_cns):
        return "P1"
    if f.mn_lost or _lost_locations(f):
        return "P2"
    return "P3"


def _lost_locations(f: Facts) -> list[str]:
    running = {n.location for n in f.running_cns} | {n.location for n in f.unknown_cns}
    return sorted({n.location for n in f.failed_cns if n.location and n.location not in running})


def _notes(f: Facts) -> list[str]:
    mn = f.ev.management_node
    notes = []
    if f.mn_unconfirmed:
        notes.append(f"Management Node {mn.name} status is unconfirmed (unknown): planned for as "
                     "if down; confirm before replacing it")
    if f.mn_lost and mn.down_since is None:
        notes.append("no last contact with the Management Node on record: the autonomy deadline "
                     "cannot be computed; treat it as critical")
    if f.mn_lost and not f.mn_snapshots and not f.backups:
        notes.append(f"no config backup or snapshot of {mn.name}: rebuild is the only way back")
    if f.unknown_cns:
        notes.append(f"Conferencing Node status unconfirmed (unknown): "
                     f"{name_list([n.name for n in f.unknown_cns])}; counted as possibly running "
                     "for the autonomy clock, not planned for: declare a lost one with --failed")
        if not f.running_cns:
            notes.append("the priority assumes an unconfirmed Conferencing Node still runs; if "
                         "none does, the system is down: P1")
    for location in _lost_locations(f):
        notes.append(f"location {location} has no Conferencing Node running")
    if f.cn_snapshots:
        notes.append(f"snapshot(s) of Conferencing Nodes not used: "
                     f"{name_list(sorted(p.id for p in f.cn_snapshots))}; Pexip advises "
                     "redeploying Conferencing Nodes rather than reverting snapshots")
    if f.ev.lost_rooms and f.export is None:
        notes.append("rooms were lost but there is no room export to re-import them from")
    if f.ev.lost_rooms and f.mn_lost:
        notes.append("lost rooms come back with the Management Node's restore point and the "
                     "newer room export, when there is one")
    return notes
