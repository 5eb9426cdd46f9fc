"""Re-create rooms, their aliases and automatic participants from a room export.

Rooms that exist on the target (by name) are skipped, so an import can be repeated or resumed
after a failure and never duplicates anything. Each room is one POST with its aliases nested
(aliases that exist elsewhere on the target are left out and counted); automatic participants
already on the target (by alias) are linked, the others created once the rooms exist.
References to objects the target does not have (a ``system_location`` of the old deployment
after a rebuild) are dropped and counted: the room is better back without them than not back.

An import interrupted after its rooms and before their automatic participants leaves rooms
that exist without them; a repeated import given ``complete_existing`` (a resumed restore step)
also creates the participants the target has none of for the rooms that exist.
"""

from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from backup_agent.errors import AgentError, ApiError
from backup_agent.infinity import InfinityClient

log = logging.getLogger(__name__)
CONFIG_PREFIX = "/api/admin/configuration/v1/"
OUTPUT_ONLY = {"id", "resource_uri", "creation_time", "aliases", "automatic_participants"}


@dataclass
class ImportResult:
    """What an import did; ``failed`` names rooms that could not be created (and why)."""

    rooms: int
    created: int = 0
    existing: int = 0
    aliases_created: int = 0
    aliases_taken: int = 0
    participants_created: int = 0
    participants_linked: int = 0
    dropped_references: Counter[str] = field(default_factory=Counter)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the journal and the terminal."""
        line = (f"{self.created} room(s) re-created with {self.aliases_created} alias(es), "
                f"{self.existing} already there; {self.participants_created} automatic "
                f"participant(s) created, {self.participants_linked} linked")
        if self.aliases_taken:
            line += f"; {self.aliases_taken} alias(es) left out (in use by another room)"
        if self.dropped_references:
            line += "; references not on the target, dropped: " + ", ".join(
                f"{k} ({n})" for k, n in sorted(self.dropped_references.items()))
        return line

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready counts."""
        return {"rooms": self.rooms, "created": self.created, "existing": self.existing,
                "aliases_created": self.aliases_created, "aliases_taken": self.aliases_taken,
                "participants_created": self.participants_created,
                "participants_linked": self.participants_linked,
                "dropped_references": dict(self.dropped_references),
                "failed": [{"room": n, "error": e} for n, e in self.failed]}


def _is_ref(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(CONFIG_PREFIX)


def _resource_of(ref: str) -> str:
    return ref[len(CONFIG_PREFIX):].split("/", 1)[0]


class _Targets:
    """What exists on the target, read once: rooms, aliases, participants, related objects."""

    def __init__(self, client: InfinityClient, rooms: list[dict[str, Any]]) -> None:
        self.rooms = {str(c.get("name")): str(c.get("resource_uri")) for c in client.conferences()}
        self.aliases = {str(a.get("alias")) for a in client.aliases()}
        self.participants = {str(p.get("alias")): str(p.get("resource_uri"))
                             for p in client.automatic_participants()}
        wanted = {_resource_of(v) for r in rooms for v in _values(r) if _is_ref(v)}
        wanted |= {_resource_of(v) for r in rooms for p in _parts(r) for k, v in p.items()
                   if k != "conference" and _is_ref(v)}
        self.refs = {str(o.get("resource_uri")) for res in sorted(wanted)
                     for o in client.list_all(f"configuration/v1/{res}/")}


def _values(room: dict[str, Any]) -> list[Any]:
    return [v for k, v in room.items() if k not in OUTPUT_ONLY]


def _parts(room: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in room.get("automatic_participants") or [] if isinstance(p, dict)]


def _relink(obj: dict[str, Any], refs: set[str], dropped: Counter[str]) -> dict[str, Any]:
    out = {}
    for key, value in obj.items():
        if _is_ref(value) and value not in refs:
            dropped[key] += 1
            value = None
        out[key] = value
    return out


def import_rooms(client: InfinityClient, rooms: list[dict[str, Any]],
                 complete_existing: bool = False) -> ImportResult:
    """Re-create the rooms of ``rooms`` (a room export's conferences) missing on ``client``.

    ``complete_existing``: the rooms that exist also get their automatic participants that
    the target has none of (an earlier, interrupted import created the rooms only).
    """
    target = _Targets(client, rooms)
    result = ImportResult(rooms=len(rooms))
    todo = [r for r in rooms if str(r.get("name")) not in target.rooms]
    result.existing = len(rooms) - len(todo)
    created: dict[str, str] = {}  # room name -> its new URI

    bodies = [_room_body(room, target, result) for room in todo]

    def one(item: tuple[str, dict[str, Any]]) -> tuple[str, str | None, str | None]:
        name, body = item
        try:
            return name, f"{CONFIG_PREFIX}conference/{client.create_conference(body)}/", None
        except AgentError as exc:
            return name, None, str(exc)

    workers = max(1, client.deployment.max_concurrency)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for (name, body), (_, new_uri, error) in zip(bodies, pool.map(one, bodies), strict=True):
            if error:
                result.failed.append((name, error))
                continue
            created[name] = str(new_uri)
            result.created += 1
            result.aliases_created += len(body["aliases"])
    existing = [r for r in rooms if str(r.get("name")) in target.rooms] if complete_existing else []
    _participants(client, todo, created, target, result, existing)
    if result.failed:
        name, error = result.failed[0]
        raise ApiError(f"{len(result.failed)} of {len(todo)} room(s) could not be re-created "
                       f"(first: {name}: {error}); {result.summary()}")
    return result


def _room_body(room: dict[str, Any], target: _Targets,
               result: ImportResult) -> tuple[str, dict[str, Any]]:
    """The POST body re-creating ``room``: aliases nested, participants on the target linked."""
    body = _relink({k: v for k, v in room.items() if k not in OUTPUT_ONLY}, target.refs,
                   result.dropped_references)
    aliases = [{"alias": a["alias"], "description": a.get("description", "")}
               for a in room.get("aliases") or [] if str(a.get("alias")) not in target.aliases]
    result.aliases_taken += len(room.get("aliases") or []) - len(aliases)
    body["aliases"] = aliases
    links = [target.participants[str(p.get("alias"))] for p in _parts(room)
             if str(p.get("alias")) in target.participants]
    if links:
        body["automatic_participants"] = links
    return str(room.get("name")), body


def _participants(client: InfinityClient, rooms: list[dict[str, Any]], created: dict[str, str],
                  target: _Targets, result: ImportResult,
                  existing: list[dict[str, Any]]) -> None:
    """Create the automatic participants the target lacks, linked to the re-created rooms
    and to the ``existing`` rooms being completed."""
    wanted: dict[str, tuple[dict[str, Any], list[str]]] = {}
    walk = [(r, created.get(str(r.get("name"))), False) for r in rooms]
    walk += [(r, target.rooms[str(r.get("name"))], True) for r in existing]
    for room, new_uri, was_there in walk:
        for part in _parts(room):
            alias = str(part.get("alias"))
            if new_uri is None:
                continue
            if alias in target.participants:
                # a room that was there got its participants on the target when it was made
                result.participants_linked += 0 if was_there else 1
                continue
            wanted.setdefault(alias, (part, []))[1].append(new_uri)
    for part, uris in wanted.values():
        body = _relink({k: v for k, v in part.items() if k not in OUTPUT_ONLY | {"conference"}},
                       target.refs, result.dropped_references)
        body["conference"] = uris
        client.create_participant(body)
        result.participants_created += 1


# -- comparing a target with an export -----------------------------------------------------

def _normal(room: dict[str, Any]) -> dict[str, Any]:
    """A room's content as compared: no ids, times or references to other objects."""
    base = {k: v for k, v in room.items() if k not in OUTPUT_ONLY and not _is_ref(v)
            and k not in ("system_location", "ivr_theme")}
    base["aliases"] = sorted((str(a.get("alias")), str(a.get("description", "")))
                             for a in room.get("aliases") or [])
    base["automatic_participants"] = sorted(
        str(p.get("alias")) for p in room.get("automatic_participants") or []
        if isinstance(p, dict))
    return base


def compare(export: list[dict[str, Any]], target: list[dict[str, Any]]) -> dict[str, Any]:
    """How ``target`` (assembled rooms) matches ``export``: counts, missing, changed, extra."""
    want = {str(r.get("name")): _normal(r) for r in export}
    have = {str(r.get("name")): _normal(r) for r in target}
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    changed = sorted(n for n in set(want) & set(have) if want[n] != have[n])
    aliases_want = sum(len(r["aliases"]) for r in want.values())
    aliases_have = sum(len(set(want[n]["aliases"]) & set(have[n]["aliases"]))
                       for n in want if n in have)
    return {"rooms_in_export": len(want), "rooms_matching": len(want) - len(missing) - len(changed),
            "aliases_in_export": aliases_want, "aliases_restored": aliases_have,
            "missing": missing[:20], "missing_count": len(missing),
            "changed": changed[:20], "changed_count": len(changed),
            "extra": extra[:20], "extra_count": len(extra),
            "matches": not missing and not changed}
