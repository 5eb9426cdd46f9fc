"""Re-create rooms, their aliases and automatic participants from a room export.

Rooms that exist on the target (by name) are skipped, so an import can be repeated or resumed
after a failure and never duplicates anything. Each room is one POST with its aliases nested
(aliases that exist elsewhere on the target are left out and counted); automatic participants
already on the target (by alias) are linked, the others created once the rooms exist, each
whole (its dial-out ``system_location`` included).

Bodies carry only the fields the target says are writable (its ``<resource>/schema/``, see
``infinity/schema.py``): never ids, ``creation_time``, ``sync_tag`` or counts. Every reference
(a URI, a nested object such as ``ivr_theme``, a list such as ``scheduled_conferences``) is
relinked by one rule (``jobs/references.py``): to the target's object of the same name, or
dropped; each drop is reported. The room is better back without a reference than not back.

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

from backup_agent.errors import AgentError, ApiError, AuthError, ConnectError
from backup_agent.infinity import InfinityClient
from backup_agent.infinity.schema import resource_schema
from backup_agent.jobs.references import CONFIG_PREFIX, Index, is_ref, resources

log = logging.getLogger(__name__)
#: Computed or set by the node: never compared between an export and a target.
COMPUTED = {"id", "resource_uri", "creation_time", "scheduled_conferences_count", "sync_tag",
            "conference"}
NESTED = frozenset({"aliases", "automatic_participants"})
PART_SKIP = frozenset({"conference"})  # a participant's rooms: set by the import itself
REPORTED = 50  # drops listed one by one; the counts are always complete
SHOWN = 3  # of which the one-line summary names


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
    dropped: list[dict[str, str]] = field(default_factory=list)  # the first REPORTED drops
    failed: list[tuple[str, str]] = field(default_factory=list)

    def drop(self, owner: str, key: str, what: list[str], kind: str = "room") -> None:
        """Record references of ``owner`` (a room, a participant) the target does not have."""
        self.dropped_references[key] += len(what)
        for ref in what:
            if len(self.dropped) < REPORTED:
                self.dropped.append({kind: owner, "field": key, "reference": ref})

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
            shown = [f"{d['field']} {d['reference']!r} of {d.get('room') or d.get('participant')!r}"
                     for d in self.dropped[:SHOWN]]
            more = sum(self.dropped_references.values()) - len(shown)
            line += " (" + "; ".join(shown) + (f"; {more} more" if more > 0 else "") + ")"
        return line

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready counts."""
        return {"rooms": self.rooms, "created": self.created, "existing": self.existing,
                "aliases_created": self.aliases_created, "aliases_taken": self.aliases_taken,
                "participants_created": self.participants_created,
                "participants_linked": self.participants_linked,
                "dropped_references": dict(self.dropped_references), "dropped": self.dropped,
                "failed": [{"room": n, "error": e} for n, e in self.failed]}


class _Targets:
    """What exists on the target, read once: rooms, aliases, participants, related objects,
    and the fields it accepts."""

    def __init__(self, client: InfinityClient, rooms: list[dict[str, Any]]) -> None:
        self.rooms = {str(c.get("name")): str(c.get("resource_uri")) for c in client.conferences()}
        self.aliases = {str(a.get("alias")) for a in client.aliases()}
        self.participants = {str(p.get("alias")): str(p.get("resource_uri"))
                             for p in client.automatic_participants()}
        rooms_schema = resource_schema(client, "conference")
        parts_schema = resource_schema(client, "automatic_participant")
        self.room_fields = rooms_schema.writable - NESTED
        self.part_fields = parts_schema.writable - PART_SKIP
        # Where the node says which fields are related, only those are references (a
        # description may well start with a URI); else any value shaped like one is.
        self.room_refs = frozenset(rooms_schema.related) if rooms_schema.related else None
        self.part_refs = frozenset(parts_schema.related) if parts_schema.related else None
        wanted = resources(rooms, NESTED) | resources(
            [p for r in rooms for p in _parts(r)], PART_SKIP)
        self.index = Index()
        for resource in sorted(wanted):
            self.index.add(resource, _listed(client, resource))


def _listed(client: InfinityClient, resource: str) -> list[dict[str, Any]]:
    """The target's objects of ``resource``; none when the target has no such resource."""
    try:
        return client.list_all(f"configuration/v1/{resource}/")
    except (ConnectError, AuthError):
        raise
    except ApiError as exc:
        log.info("target has no %s to relink to: %s", resource, exc)
        return []


def _parts(room: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in room.get("automatic_participants") or [] if isinstance(p, dict)]


def _body(obj: dict[str, Any], writable: frozenset[str], refs: frozenset[str] | None,
          index: Index, dropped: Any) -> dict[str, Any]:
    """The writable fields of ``obj``, every reference (a field in ``refs``, when known)
    relinked; ``dropped(field, labels)`` hears of the references the target does not have."""
    out = {}
    for key, value in obj.items():
        if key not in writable:
            continue
        if is_ref(value) and (refs is None or key in refs):
            value, lost = index.relink(value)
            if lost:
                dropped(key, lost)
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
    name = str(room.get("name"))
    body = _body(room, target.room_fields, target.room_refs, target.index,
                 lambda key, lost: result.drop(name, key, lost))
    aliases = [{"alias": a["alias"], "description": a.get("description", "")}
               for a in room.get("aliases") or [] if str(a.get("alias")) not in target.aliases]
    result.aliases_taken += len(room.get("aliases") or []) - len(aliases)
    body["aliases"] = aliases
    links = [target.participants[str(p.get("alias"))] for p in _parts(room)
             if str(p.get("alias")) in target.participants]
    if links:
        body["automatic_participants"] = links
    return name, body


def _participants(client: InfinityClient, rooms: list[dict[str, Any]], created: dict[str, str],
                  target: _Targets, result: ImportResult,
                  existing: list[dict[str, Any]]) -> None:
    """Create the automatic participants the target lacks, linked to the re-created rooms
    and to the ``existing`` rooms being completed."""
    wanted: dict[str, tuple[dict[str, Any], list[str]]] = {}  # by source id (else alias)
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
            wanted.setdefault(str(part.get("id", alias)), (part, []))[1].append(new_uri)
    for part, uris in wanted.values():
        alias = str(part.get("alias"))
        body = _body(part, target.part_fields, target.part_refs, target.index,
                     lambda key, lost, a=alias: result.drop(a, key, lost, "participant"))
        body["conference"] = uris
        client.create_participant(body)
        result.participants_created += 1


# -- comparing a target with an export -----------------------------------------------------

def _normal(obj: dict[str, Any], index: Index) -> dict[str, Any]:
    """An object's content as compared: no ids, times or computed fields; references by name
    (marked ``@`` so that a reference the target lacks can be told from a wrong one)."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key in COMPUTED or key in NESTED:
            continue
        if is_ref(value):
            value = (sorted("@" + index.key(v) for v in value) if isinstance(value, list)
                     else "@" + index.key(value))
        out[key] = value
    return out


def _room(room: dict[str, Any], index: Index) -> dict[str, Any]:
    base = _normal(room, index)
    base["aliases"] = sorted((str(a.get("alias")), str(a.get("description", "")))
                             for a in room.get("aliases") or [])
    base["automatic_participants"] = {str(p.get("alias")): _normal(p, index) for p in _parts(room)}
    return base


def _is_key(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("@")


def _verdict(want: Any, have: Any) -> str:
    """``same``; ``dropped`` when all that differs is references the target does not hold;
    else ``changed`` (a value, or a reference to another object)."""
    if want == have:
        return "same"
    if isinstance(want, dict) and isinstance(have, dict):
        verdicts = {_verdict(want.get(k), have.get(k)) for k in set(want) | set(have)}
        return "changed" if "changed" in verdicts else "dropped" if "dropped" in verdicts else "same"
    if _is_key(want) and have in (None, ""):
        return "dropped"
    if isinstance(want, list) and isinstance(have, list) and all(_is_key(w) for w in want) \
            and set(have) <= set(want):
        return "dropped"
    return "changed"


def compare(export: list[dict[str, Any]], target: list[dict[str, Any]]) -> dict[str, Any]:
    """How ``target`` (rooms as ``export.read_rooms`` gives them) matches ``export``: counts,
    missing, changed, extra. References are compared by name; a room back without a
    reference the target does not have (dropped by the import, and reported) still matches,
    and is counted in ``references_dropped``; one linked to another object does not."""
    index = Index()
    want = {str(r.get("name")): _room(r, index) for r in export}
    have = {str(r.get("name")): _room(r, index) for r in target}
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    verdicts = {n: _verdict(want[n], have[n]) for n in set(want) & set(have)}
    changed = sorted(n for n, v in verdicts.items() if v == "changed")
    aliases_want = sum(len(r["aliases"]) for r in want.values())
    aliases_have = sum(len(set(want[n]["aliases"]) & set(have[n]["aliases"]))
                       for n in want if n in have)
    return {"rooms_in_export": len(want), "rooms_matching": len(want) - len(missing) - len(changed),
            "aliases_in_export": aliases_want, "aliases_restored": aliases_have,
            "missing": missing[:20], "missing_count": len(missing),
            "changed": changed[:20], "changed_count": len(changed),
            "references_dropped": sum(v == "dropped" for v in verdicts.values()),
            "extra": extra[:20], "extra_count": len(extra),
            "matches": not missing and not changed}
