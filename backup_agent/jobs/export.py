"""The room export job: every conference of every service type, with aliases, as JSON and CSV.

``rooms.json`` is full fidelity and re-importable through the API: ``{"conferences": [...]}``
lists the API objects, each with its ``aliases`` and its ``automatic_participants`` as the
standalone objects (a conference embeds them without their ``system_location``: the export
looks each one up by ``id``). References to other objects (``system_location``,
``ivr_theme``, ``scheduled_conferences``...) are held as ``{"id", "name", "resource_uri"}``,
so that an import on another node can find them by name (see ``jobs/references.py``).
``vmrs.csv`` and ``auditoriums.csv`` are the web UI's bulk CSV (one row per alias). An export
whose rooms are identical to the previous one is recorded as unchanged, not stored again.
The export holds PINs: it is a secret, kept 0600, and no PIN reaches the catalog or a log.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from backup_agent.catalog import Kind, RestorePoint, Run, iso
from backup_agent.config import Deployment
from backup_agent.errors import AgentError, ApiError, AuthError, ConnectError, StoreError
from backup_agent.infinity import InfinityClient
from backup_agent.infinity.schema import resource_schema, stable_order
from backup_agent.jobs import inventory, references
from backup_agent.jobs.env import Env
from backup_agent.jobs.runner import kept_if_recorded, run_job
from backup_agent.store import file_key
from backup_agent.untrusted import untrusted_json

if TYPE_CHECKING:
    from backup_agent.jobs.export_stream import Serialised

log = logging.getLogger(__name__)

FORMAT = "backup-agent/room-export"
FORMAT_VERSION = 3  # 2: participants whole, references named; 3: room lines compact
CONFIG = "configuration/v1/"
NESTED = frozenset({"aliases", "automatic_participants"})  # joined by the export itself
CSV_COLUMNS = (
    "name", "description", "pin", "allow_guests", "guest_pin", "alias_alias",
    "alias_description", "tag", "max_callrate_in", "max_callrate_out", "call_type",
    "host_view", "enable_overlay_text", "ivr_theme_name", "participant_limit",
    "primary_owner_email_address",
)
CSV_FILES = {"conference": "vmrs.csv", "lecture": "auditoriums.csv"}
_ALIAS_AT = CSV_COLUMNS.index("alias_alias")  # and alias_description right after it
NESTED_ALIAS = frozenset({"id", "alias", "conference", "description", "creation_time"})
SPOOL_BUFFER = 1024 * 1024  # spools written in large writes, not 8 KiB ones
DIFF_NAMES = 20  # room names listed per diff category; the counts are always complete


def assemble(conferences: list[dict[str, Any]], aliases: list[dict[str, Any]],
             participants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Join aliases and automatic participants onto their conferences, in a stable order.

    A conference's participants (embedded objects, or URIs on older readings) are replaced by
    the standalone objects of the same ``id``; one missing from ``participants`` is kept as
    the conference gave it.
    """
    by_uri = {c.get("resource_uri"): c for c in conferences}
    alias_map: dict[Any, list[dict[str, Any]]] = {uri: [] for uri in by_uri}
    for alias in aliases:
        alias_map.setdefault(alias.get("conference"), []).append(alias)
    part_by_id = {str(p.get("id")): p for p in participants}
    out = []
    # In place: a copy of 20,000 rooms is tens of megabytes the export does not need.
    for room in sorted(conferences, key=lambda c: (str(c.get("name")), str(c.get("id")))):
        room["aliases"] = sorted(alias_map.get(room.get("resource_uri"), []),
                                 key=lambda a: str(a.get("alias")))
        room["automatic_participants"] = [part_by_id.get(_participant_id(r), r)
                                          for r in room.get("automatic_participants") or []]
        out.append(room)
    return out


def _participant_id(ref: Any) -> str:
    if isinstance(ref, dict):
        return str(ref.get("id"))
    return str(ref).rstrip("/").rsplit("/", 1)[-1]


def read_rooms(client: InfinityClient) -> list[dict[str, Any]]:
    """Every room of the node, assembled, its participants whole and its references named.

    The conferences and the participants are listed at once (their pages share the client's
    concurrency bound); the aliases come nested in the conferences, so the separate
    ``conference_alias`` listing (half the requests) is read only where they do not.
    """
    def listed(resource: str) -> list[dict[str, Any]]:
        return client.list_all(CONFIG + resource + "/", stable_order(client, resource))

    stable_order(client, "conference")  # the version asked once, before the threads ask it
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-list") as pool:
        listing = pool.submit(listed, "automatic_participant")
        conferences = listed("conference")
        participants = listing.result()
    aliases = nested_aliases(conferences)
    rooms = assemble(conferences, listed("conference_alias") if aliases is None else aliases,
                     participants)
    known = {str(p.get("id")) for p in participants}
    missing = {_participant_id(r) for room in rooms for r in room["automatic_participants"]} - known
    if missing:  # created after the participant list was read
        extra = [p for p in (_get(client, f"{CONFIG}automatic_participant/{i}/") for i in sorted(missing))
                 if p is not None]
        rooms = assemble(rooms, [a for r in rooms for a in r["aliases"]], participants + extra)
    _name_references(client, rooms)
    return rooms


def nested_aliases(conferences: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The aliases the conferences nest, as ``conference_alias`` lists them (its
    ``resource_uri`` made from its ``id``); None when any conference does not nest them whole
    (an older reading: then the aliases are listed on their own)."""
    out: list[dict[str, Any]] = []
    for conf in conferences:
        nested, uri = conf.get("aliases"), conf.get("resource_uri")
        if not isinstance(nested, list) or not isinstance(uri, str) or "/conference/" not in uri:
            return None
        prefix = uri.rsplit("/conference/", 1)[0] + "/conference_alias/"
        for alias in nested:
            if not isinstance(alias, dict) or not alias.keys() >= NESTED_ALIAS \
                    or alias.get("conference") != uri:
                return None
            if "resource_uri" not in alias:
                alias["resource_uri"] = f"{prefix}{alias['id']}/"
            out.append(alias)
    return out


def _get(client: InfinityClient, path: str) -> dict[str, Any] | None:
    try:
        answer = client.get(path)
    except (ConnectError, AuthError):
        raise
    except ApiError as exc:
        log.warning("%s: %s", path, exc)
        return None
    return answer if isinstance(answer, dict) else None


def _name_references(client: InfinityClient, rooms: list[dict[str, Any]]) -> None:
    """Bare-URI references become ``{"id", "name", "resource_uri"}`` (in place)."""
    parts = [p for r in rooms for p in r["automatic_participants"] if isinstance(p, dict)]
    skip = frozenset({"conference"})
    room_refs, part_refs = _related(client, "conference"), _related(client, "automatic_participant")
    wanted = (references.resources(rooms, NESTED, room_refs)
              | references.resources(parts, skip, part_refs))
    names: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="export-names") as pool:
        for objects in pool.map(lambda r: _named(client, r), sorted(wanted)):
            names.update({str(o["resource_uri"]): str(o["name"]) for o in objects
                          if o.get("resource_uri") and o.get("name") is not None})
    for room in rooms:
        references.name(room, names, NESTED, room_refs)
    for part in parts:
        references.name(part, names, skip, part_refs)


def _named(client: InfinityClient, resource: str) -> list[dict[str, Any]]:
    """The objects of ``resource`` (listed at once with the others', within the bound)."""
    try:
        return client.list_all(f"{CONFIG}{resource}/")
    except (ConnectError, AuthError):
        raise
    except ApiError as exc:  # a resource this release does not have: the URIs stay bare
        log.warning("cannot name references to %s: %s", resource, exc)
        return []


def _related(client: InfinityClient, resource: str) -> frozenset[str] | None:
    """The fields the node's schema says are related (None: no schema, look at every field)."""
    related = resource_schema(client, resource).related
    return frozenset(related) if related else None


class _Echo:
    """A file whose ``write`` hands back what it is given: ``csv.writer.writerow`` then
    returns the formatted row (no StringIO per room; the writer holds no state of its own)."""

    @staticmethod
    def write(text: str) -> str:
        return text


_ROW = csv.writer(_Echo(), lineterminator="\n")
_THEME_CELL = CSV_COLUMNS.index("ivr_theme_name")


def csv_rows(room: dict[str, Any]) -> bytes:
    """A room's rows of the web UI's bulk CSV (one per alias), for its service type's file.

    The cells before and after the alias's two are the room's, the same in each of its rows:
    formatted once, and each row is them around its alias's cells (a third less time than a
    whole row formatted per alias; the same bytes, since no part is a lone field, the one
    case csv writes differently alone).
    """
    if room.get("service_type") not in CSV_FILES:
        return b""
    get = room.get
    # Once per room; text and None, nearly every cell, without a call each.
    cells = [v if type(v) is str else "" if v is None else _csv_value(v) for v in map(get, CSV_COLUMNS)]
    theme = get("ivr_theme")
    cells[_THEME_CELL] = _csv_value(theme.get("name")) if isinstance(theme, dict) else ""
    row = _ROW.writerow
    before, after = row(cells[:_ALIAS_AT])[:-1], row(cells[_ALIAS_AT + 2:])
    out = []
    for alias in room["aliases"] or [{}]:
        name, description = alias.get("alias", ""), alias.get("description", "")
        middle = row((name if type(name) is str else _csv_value(name),
                      description if type(description) is str else _csv_value(description)))
        out.append(f"{before},{middle[:-1]},{after}")
    return "".join(out).encode("utf-8")


def csv_header() -> bytes:
    return str(_ROW.writerow(CSV_COLUMNS)).encode("utf-8")


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if type(value) is str:
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def room_line(room: dict[str, Any]) -> bytes:
    """A room's canonical JSON: one line of rooms.json, and what hashes and diffs compare.

    Compact, keys sorted, UTF-8 (msgspec: a third of ``json.dumps``'s time, and this is the
    export's largest cost). Exports of format 2 wrote ``json.dumps(sort_keys=True)`` lines,
    spaced; :func:`previous_rooms` reads those again in this form, so that an upgrade changes
    no digest and no diff.
    """
    return _canonical()(room)


@cache
def _canonical() -> Callable[[Any], bytes]:
    """msgspec's encoder, keys sorted (imported at first use, as the decoder is)."""
    import msgspec

    return msgspec.json.Encoder(order="sorted").encode


def previous_rooms(lines: Iterable[str]) -> tuple[dict[str, str], str]:
    """(room name → digest, content sha256) of an earlier export's room lines, each made
    canonical again first (an export of format 2 has other bytes for the same rooms)."""
    names: dict[str, str] = {}
    ordered = []
    for text in lines:
        room = untrusted_json(text)
        if not isinstance(room, dict):
            raise ValueError("a room line that is not a JSON object")
        ordered.append(digest := line_digest(room_line(room)))
        names[str(room.get("name"))] = digest
    return names, content_digest(ordered)


def line_digest(line: bytes) -> str:
    """A room line's digest: what the diff compares, room by room."""
    return hashlib.sha256(line).hexdigest()


def content_digest(digests: Iterable[str]) -> str:
    """An export's content sha256: of its rooms' digests in its order, one per line (made
    from the digests, so that deciding 'unchanged' reads no room line again)."""
    return hashlib.sha256("".join(f"{d}\n" for d in digests).encode()).hexdigest()


def diff(old: dict[str, str], new: dict[str, str]) -> dict[str, Any]:
    """Rooms added, removed and changed between two exports (name → digest maps)."""
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changed = sorted(n for n in set(old) & set(new) if old[n] != new[n])
    return {
        "added": len(added), "removed": len(removed), "changed": len(changed),
        "added_names": added[:DIFF_NAMES], "removed_names": removed[:DIFF_NAMES],
        "changed_names": changed[:DIFF_NAMES],
    }


def iter_room_lines(source: Path | BinaryIO) -> Iterator[str]:
    """The canonical room lines of a rooms.json (a file, or a stream from the store, which
    this closes), read one line at a time (constant memory).

    rooms.json is written one room per line between a header and a footer line; a file in any
    other layout (edited by hand, say) is read whole and re-serialised.
    """
    raw = open(source, "rb") if isinstance(source, Path) else source  # noqa: SIM115
    with raw, io.TextIOWrapper(raw, encoding="utf-8") as fh:
        header = fh.readline()
        if not header.rstrip().endswith('"conferences": ['):
            yield from (room_line(r).decode() for r in json.loads(header + fh.read())["conferences"])
            return
        for line in fh:
            line = line.rstrip("\n")
            if line == "]}":
                return
            yield line.removesuffix(",")


def load_rooms(env: Env, rp: RestorePoint) -> list[dict[str, Any]]:
    """The conferences of a room export restore point (fetched from a copy if lost)."""
    f = next((f for f in rp.files if f.name == "rooms.json"), None)
    if f is None:
        raise StoreError(f"{rp.id} has no rooms.json")
    if env.config.copies:
        from backup_agent.jobs.fetch import ensure_local

        ensure_local(env, rp)
    try:
        return [json.loads(line) for line in iter_room_lines(env.store.open(f.key))]
    except StoreError as exc:
        raise StoreError(f"{exc} (see `backup-agent verify`)") from exc
    except OSError as exc:
        raise StoreError(f"cannot read {f.key} of {rp.id}: {exc.strerror or exc} "
                         "(see `backup-agent verify`)") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"{f.key} of {rp.id} is not a room export ({exc}); "
                         "see `backup-agent verify`") from exc


def room_export(env: Env, deployment: Deployment, run: Run, now: datetime) -> None:
    """Export every room; store it unless identical to the previous export."""
    from backup_agent.jobs.export_stream import Serialised, Spooled, stream_rooms

    client = env.client(deployment)
    spooled = stream_rooms(client)  # None: the rooms do not nest their aliases
    if spooled is None:
        spooled = Spooled()
        rooms = read_rooms(client)
        while rooms:
            spooled.add(rooms.pop())  # the spool puts them in order; each freed once spooled
    try:
        _store(env, deployment, run, now, Serialised(spooled))
    finally:
        spooled.close()


def _store(env: Env, deployment: Deployment, run: Run, now: datetime, out: Serialised) -> None:
    digest, stats = out.sha256, out.stats
    previous = env.catalog.latest(deployment.name, "room-export")
    recorded = previous.data.get("content_sha256") if previous else None
    if previous and recorded == digest and _confirm(env, previous, run, now, stats):
        return
    changes = None
    if previous:
        try:
            f = next(f for f in previous.files if f.name == "rooms.json")
            old, old_sha256 = previous_rooms(iter_room_lines(env.store.open(f.key)))
        except (AgentError, OSError, ValueError, KeyError, StopIteration) as exc:
            log.warning("no diff against %s: %s", previous.id, exc)
        else:
            # The same rooms in the lines of an older format: unchanged, and from now on
            # found so at once (its content sha256 is then the one of this format).
            if old_sha256 == digest != recorded and _confirm(env, previous, run, now, stats,
                                                             content_sha256=digest):
                return
            changes = diff(old, out.digests)
    rp_id = env.catalog.new_id("re", deployment.name, now)
    inv = env.catalog.latest(deployment.name, "inventory")
    version = inv.version if inv else None
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "deployment": deployment.name,
              "taken_at": iso(now), "software_version": version}
    with kept_if_recorded(env) as written:  # half an export is no restore point
        keys = {n: written.add(file_key(deployment.name, "room-export", rp_id, n))
                for n in ("rooms.json", *CSV_FILES.values())}
        records = out.write(env, keys, header)
        data = {"content_sha256": digest, **stats,
                "diff": changes, "previous": previous.id if previous else None}
        env.catalog.add_restore_point(RestorePoint(
            id=rp_id, kind=Kind.ROOM_EXPORT, deployment=deployment.name, taken_at=now,
            version=version, verified=True, run_id=run.id, data=data, files=records))
    run.item("room-export", "ok")
    run.summary["room_export"] = {"id": rp_id, "rooms": stats["rooms"], "diff": changes}


def _confirm(env: Env, previous: RestorePoint, run: Run, now: datetime,
             stats: dict[str, Any], **changes: Any) -> bool:
    """Confirm ``previous`` as this export, unchanged; False when its files are not whole."""
    if not inventory.intact(env, previous):
        return False
    env.catalog.update_data(previous.id, confirmed_at=iso(now), **changes)
    run.item("room-export", "unchanged")
    run.summary["room_export"] = {"id": previous.id, "unchanged": True, "rooms": stats["rooms"]}
    return True


def export(env: Env, deployment: Deployment) -> Run:
    """The ``export`` job: refresh the inventory, then export every room."""
    return run_job(env, deployment, "export",
                   [("inventory", inventory.refresh), ("room-export", room_export)],
                   purpose=("room-export",))
