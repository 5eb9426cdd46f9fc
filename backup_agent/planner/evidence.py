"""The planner's input: the evidence JSON parsed and validated into frozen records.

The contract is design.md's "Evidence" section. Unknown keys are ignored; a missing required
key, a value of the wrong type, an unknown ``kind``/``status``/``platform``, a timestamp without
a timezone, ``down_since`` after ``now``, ``down_since`` missing while the Management Node is
``down``, or a restore point taken after ``down_since`` (or after ``now``) raises
:class:`~backup_agent.errors.EvidenceError` naming the JSON path, e.g.
``restore_points[2].taken_at: no timezone``.

Optional extensions beyond design.md (all may be absent):

- ``drills``: ``[{"kind": "restore-backup", "minutes": 41.5, "at": "2026-11-02T10:00:00Z"}]``,
  measured drill durations per path kind; the planner's estimates use their median.
- ``failed``: node names (or ``"management"``) the user declares lost; each is planned for as
  ``down`` whatever its ``status`` says. A name not in the evidence is an error.
- ``lost_rooms``: names of rooms lost while the Management Node runs (deleted by mistake);
  makes ``import-rooms`` a path of its own.
- ``node`` on a snapshot: the VM it was taken of. A snapshot without one is taken to be of the
  Management Node (Pexip advises against snapshotting Conferencing Nodes) and the plan says so.
- ``location`` on the Management Node, like on Conferencing Nodes.
- ``rooms`` on a room export: how many rooms it holds.
- ``licences``: the deployment's licences (entitlement, expiry) for the re-license step of
  the restore-backup and rebuild runbooks (:mod:`backup_agent.planner.licences`).
- ``build`` on a restore point: the build of its ``version`` when recorded apart (config
  backups); versions are compared by release, a build difference is a note
  (:mod:`backup_agent.planner.version`).
- ``verified`` (config backups) and ``available`` (snapshots) default to false / unknown:
  an unverified backup or a snapshot nobody asked the provider about is not ``ready``.
- ``copy`` on a config backup or room export: ``{"store": "offsite-s3", "bytes": 5242880}``,
  its local bytes are gone and that off-site copy (read back fine) has them; the estimate
  includes the download.
- ``passphrase`` on a config backup: ``{"available": false, "reason": "..."}`` when the backup
  passphrase it was made with is no longer the agent's (the reference it was recorded with does
  not resolve, or resolves to another passphrase): it is no restore point, and its path, when
  shown, is blocked with that reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backup_agent.errors import EvidenceError
from backup_agent.planner.licences import Licence, parse_licences
from backup_agent.timefmt import iso, parse_iso

STATUSES = ("up", "down", "unknown")
PLATFORMS = ("vmware", "hyperv", "aws", "azure", "gcp", "other")
POINT_KINDS = ("config-backup", "snapshot", "room-export")
PATH_KINDS = ("revert-snapshot", "restore-backup", "redeploy-node", "import-rooms", "rebuild")
MANAGEMENT_ALIAS = "management"


@dataclass(frozen=True)
class ManagementNode:
    """The Management Node as last seen; ``status`` as reported, before declared failures."""

    name: str
    status: str
    platform: str
    down_since: datetime | None = None
    location: str | None = None


@dataclass(frozen=True)
class ConferencingNode:
    """One Conferencing Node of the inventory."""

    name: str
    status: str
    platform: str
    location: str | None = None


@dataclass(frozen=True)
class RestorePoint:
    """A config backup, a snapshot or a room export; fields a kind lacks stay ``None``."""

    kind: str
    id: str
    taken_at: datetime
    version: str | None = None
    verified: bool | None = None
    node: str | None = None
    build: str | None = None
    provider: str | None = None
    available: bool | None = None
    rooms: int | None = None
    copy_store: str | None = None  # fetched from this off-site store first
    copy_bytes: int | None = None
    passphrase_missing: str | None = None  # why the passphrase it needs is not available


@dataclass(frozen=True)
class Drill:
    """A measured drill: how long a path of ``kind`` took."""

    kind: str
    minutes: float
    at: datetime


@dataclass(frozen=True)
class Evidence:
    """Everything the planner needs, ``now`` included, so planning is deterministic."""

    deployment: str
    now: datetime
    software_version: str
    management_node: ManagementNode
    conferencing_nodes: tuple[ConferencingNode, ...]
    restore_points: tuple[RestorePoint, ...]
    drills: tuple[Drill, ...] = ()
    failed: tuple[str, ...] = ()
    lost_rooms: tuple[str, ...] = ()
    licences: tuple[Licence, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The evidence as JSON-ready data that :func:`parse_evidence` reads back equal."""
        mn = self.management_node
        out: dict[str, Any] = {
            "deployment": self.deployment,
            "now": format_time(self.now),
            "software_version": self.software_version,
            "management_node": _drop_none({
                "name": mn.name, "status": mn.status, "platform": mn.platform,
                "down_since": format_time(mn.down_since) if mn.down_since else None,
                "location": mn.location,
            }),
            "conferencing_nodes": [
                _drop_none({"name": n.name, "status": n.status, "platform": n.platform,
                            "location": n.location})
                for n in self.conferencing_nodes
            ],
            "restore_points": [_point_dict(p) for p in self.restore_points],
        }
        if self.drills:
            out["drills"] = [{"kind": d.kind, "minutes": d.minutes, "at": format_time(d.at)}
                             for d in self.drills]
        if self.failed:
            out["failed"] = list(self.failed)
        if self.lost_rooms:
            out["lost_rooms"] = list(self.lost_rooms)
        if self.licences:
            out["licences"] = [lic.to_dict() for lic in self.licences]
        return out


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, the form the evidence and plan JSON use (and the catalog)."""
    return iso(moment)


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def _point_dict(p: RestorePoint) -> dict[str, Any]:
    return _drop_none({
        "kind": p.kind, "id": p.id, "taken_at": format_time(p.taken_at), "version": p.version,
        "build": p.build, "verified": p.verified, "node": p.node, "provider": p.provider,
        "available": p.available, "rooms": p.rooms,
        "copy": {"store": p.copy_store, "bytes": p.copy_bytes} if p.copy_store else None,
        "passphrase": ({"available": False, "reason": p.passphrase_missing}
                       if p.passphrase_missing else None),
    })


# --- reading -------------------------------------------------------------------------------

def _get(obj: Mapping[str, Any], key: str, where: str, required: bool = True) -> Any:
    value = obj.get(key)
    if value is None and required:
        raise EvidenceError(f"{_join(where, key)}: required key missing")
    return value


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise EvidenceError(f"{where or 'evidence'}: expected an object, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise EvidenceError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _str(obj: Mapping[str, Any], key: str, where: str, required: bool = True) -> str | None:
    value = _get(obj, key, where, required)
    if value is None or (isinstance(value, str) and value.strip()):
        return value
    raise EvidenceError(f"{_join(where, key)}: expected a non-empty string")


def _req_str(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = _str(obj, key, where)
    if value is None:  # unreachable: _str raises for a missing required key; for mypy
        raise EvidenceError(f"{_join(where, key)}: required key missing")
    return value


def _choice(obj: Mapping[str, Any], key: str, where: str, allowed: tuple[str, ...]) -> str:
    value = _req_str(obj, key, where)
    if value not in allowed:
        raise EvidenceError(f"{_join(where, key)}: unknown value {value!r} "
                            f"(one of {', '.join(allowed)})")
    return value


def _bool(obj: Mapping[str, Any], key: str, where: str) -> bool | None:
    value = _get(obj, key, where, required=False)
    if value is not None and not isinstance(value, bool):
        raise EvidenceError(f"{_join(where, key)}: expected true or false")
    return value


def _time(obj: Mapping[str, Any], key: str, where: str, required: bool = True) -> datetime | None:
    value = _str(obj, key, where, required)
    if value is None:
        return None
    return parse_time(value, _join(where, key))


def _req_time(obj: Mapping[str, Any], key: str, where: str) -> datetime:
    return parse_time(_req_str(obj, key, where), _join(where, key))


YEARS = (1970, 9000)


def parse_time(text: str, where: str) -> datetime:
    """An ISO 8601 timestamp that must carry a timezone; ``where`` names it in the error."""
    try:
        when = parse_iso(text)
    except ValueError as exc:
        if "no timezone" in str(exc):
            raise EvidenceError(f"{where}: {exc}") from None
        raise EvidenceError(f"{where}: not an ISO 8601 timestamp: {text[:64]!r}") from None
    # Deadlines and ages are computed from these: year 1 or 9999 overflowed into a traceback.
    if not YEARS[0] <= when.year <= YEARS[1]:
        raise EvidenceError(f"{where}: {text[:64]!r} is not between the years {YEARS[0]} and "
                            f"{YEARS[1]}")
    return when


def _management(data: Mapping[str, Any]) -> ManagementNode:
    where = "management_node"
    mn = _object(_get(data, where, ""), where)
    return ManagementNode(
        name=_req_str(mn, "name", where),
        status=_choice(mn, "status", where, STATUSES),
        platform=_choice(mn, "platform", where, PLATFORMS),
        down_since=_time(mn, "down_since", where, required=False),
        location=_str(mn, "location", where, required=False),
    )


def _conferencing(data: Mapping[str, Any]) -> tuple[ConferencingNode, ...]:
    items = _list(_get(data, "conferencing_nodes", ""), "conferencing_nodes")
    nodes = []
    for i, item in enumerate(items):
        where = f"conferencing_nodes[{i}]"
        obj = _object(item, where)
        nodes.append(ConferencingNode(
            name=_req_str(obj, "name", where),
            status=_choice(obj, "status", where, STATUSES),
            platform=_choice(obj, "platform", where, PLATFORMS),
            location=_str(obj, "location", where, required=False),
        ))
    return tuple(nodes)


def _rooms(obj: Mapping[str, Any], where: str) -> int | None:
    value = _get(obj, "rooms", where, required=False)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise EvidenceError(f"{where}.rooms: expected a whole number of rooms, 0 or more")
    return value


def _copy(obj: Mapping[str, Any], where: str) -> dict[str, Any]:
    raw = _get(obj, "copy", where, required=False)
    if raw is None:
        return {}
    copy = _object(raw, f"{where}.copy")
    size = _get(copy, "bytes", f"{where}.copy")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise EvidenceError(f"{where}.copy.bytes: expected a whole number of bytes, 0 or more")
    return {"copy_store": _str(copy, "store", f"{where}.copy"), "copy_bytes": size}


def _restore_points(data: Mapping[str, Any]) -> tuple[RestorePoint, ...]:
    items = _list(_get(data, "restore_points", ""), "restore_points")
    points = []
    for i, item in enumerate(items):
        where = f"restore_points[{i}]"
        obj = _object(item, where)
        points.append(RestorePoint(
            kind=_choice(obj, "kind", where, POINT_KINDS),
            id=_req_str(obj, "id", where),
            taken_at=_req_time(obj, "taken_at", where),
            version=_str(obj, "version", where, required=False),
            build=_str(obj, "build", where, required=False),
            verified=_bool(obj, "verified", where),
            node=_str(obj, "node", where, required=False),
            provider=_str(obj, "provider", where, required=False),
            available=_bool(obj, "available", where),
            rooms=_rooms(obj, where),
            **_copy(obj, where),
            passphrase_missing=_passphrase(obj, where),
        ))
    return tuple(points)


def _passphrase(obj: Mapping[str, Any], where: str) -> str | None:
    raw = _get(obj, "passphrase", where, required=False)
    if raw is None:
        return None
    info = _object(raw, f"{where}.passphrase")
    if _bool(info, "available", f"{where}.passphrase") is not False:
        return None
    return _str(info, "reason", f"{where}.passphrase", required=False) or (
        "the backup passphrase it needs is not available")


def _drills(data: Mapping[str, Any]) -> tuple[Drill, ...]:
    items = _list(_get(data, "drills", "", required=False) or [], "drills")
    drills = []
    for i, item in enumerate(items):
        where = f"drills[{i}]"
        obj = _object(item, where)
        minutes = _get(obj, "minutes", where)
        if isinstance(minutes, bool) or not isinstance(minutes, int | float) or not minutes > 0:
            raise EvidenceError(f"{where}.minutes: expected a positive number of minutes")
        drills.append(Drill(kind=_choice(obj, "kind", where, PATH_KINDS), minutes=float(minutes),
                            at=_req_time(obj, "at", where)))
    return tuple(drills)


def _names(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    items = _list(_get(data, key, "", required=False) or [], key)
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            raise EvidenceError(f"{key}[{i}]: expected a non-empty string")
    return tuple(items)


def parse_evidence(data: Any) -> Evidence:
    """Validate decoded evidence JSON into an :class:`Evidence`; raise ``EvidenceError``."""
    obj = _object(data, "")
    evidence = Evidence(
        deployment=_req_str(obj, "deployment", ""),
        now=_req_time(obj, "now", ""),
        software_version=_req_str(obj, "software_version", ""),
        management_node=_management(obj),
        conferencing_nodes=_conferencing(obj),
        restore_points=_restore_points(obj),
        drills=_drills(obj),
        failed=_names(obj, "failed"),
        lost_rooms=_names(obj, "lost_rooms"),
        licences=parse_licences(obj),
    )
    _check_consistency(evidence)
    return evidence


def _check_unique(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise EvidenceError(f"{what}[{i}]: duplicate name {name!r}")
        seen.add(name)


def _check_consistency(ev: Evidence) -> None:
    mn = ev.management_node
    _check_unique([n.name for n in ev.conferencing_nodes], "conferencing_nodes")
    if mn.name in {n.name for n in ev.conferencing_nodes}:
        raise EvidenceError(f"management_node.name: {mn.name!r} is also a Conferencing Node")
    ids: set[str] = set()
    for i, point in enumerate(ev.restore_points):
        if point.id in ids:
            raise EvidenceError(f"restore_points[{i}].id: duplicate id {point.id!r}")
        ids.add(point.id)
    known = {mn.name, MANAGEMENT_ALIAS} | {n.name for n in ev.conferencing_nodes}
    for i, name in enumerate(ev.failed):
        if name not in known:
            raise EvidenceError(f"failed[{i}]: {name!r} is not a node of deployment {ev.deployment!r}")
    if management_down(ev) and mn.down_since is None:
        raise EvidenceError("management_node.down_since: required key missing "
                            "(required when the Management Node is down)")
    if mn.down_since is not None and mn.down_since > ev.now:
        raise EvidenceError(f"management_node.down_since: {format_time(mn.down_since)} is in the "
                            f"future (now is {format_time(ev.now)})")
    limit, limit_name = (mn.down_since, "management_node.down_since") if mn.down_since else (
        ev.now, "now")
    for i, point in enumerate(ev.restore_points):
        if point.taken_at > limit:
            raise EvidenceError(f"restore_points[{i}].taken_at: {format_time(point.taken_at)} is "
                                f"after {limit_name} ({format_time(limit)})")


def management_down(ev: Evidence) -> bool:
    """True when the Management Node is reported or declared ``down`` (not merely unknown)."""
    declared = MANAGEMENT_ALIAS in ev.failed or ev.management_node.name in ev.failed
    return declared or ev.management_node.status == "down"


def effective_status(ev: Evidence, name: str, status: str) -> str:
    """A node's status for planning: a declared failure overrides what was reported."""
    return "down" if name in ev.failed else status
