"""The room export read as a stream: each page of conferences made into lines as it arrives.

Nothing of the whole list is held at once: a room is assembled (aliases from its own
``aliases``, participants whole from the participant list, read first and small), its
references named (each referenced resource listed the first time a room points into it),
made into its canonical line and CSV rows, and written to an unnamed spool file; only its
sort key, its line's digest and where its bytes are stay in memory. :func:`export.room_export`
then decides from the digests alone whether the rooms changed (:class:`Serialised`), and only
then reads the spool, once, in the export's order, into the store. Memory is flat in the
number of rooms (what is held per room is a key, a few numbers and a digest). A conference
that does not nest its aliases whole (an older reading) makes the stream give up (None), and
the export reads the rooms as a list.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from os import pread
from typing import IO, Any, NamedTuple

from backup_agent.catalog import FileRecord
from backup_agent.errors import ApiError
from backup_agent.infinity import InfinityClient
from backup_agent.infinity.listing import ListChanged, iter_concurrent
from backup_agent.infinity.schema import stable_order
from backup_agent.jobs import export, references
from backup_agent.jobs.env import Env

SKIP_PART = frozenset({"conference"})
SPOOL_BUFFER = export.SPOOL_BUFFER
CHUNK = 256  # rooms read from the spool and written into the store at a time (~0.5 MB)


class Entry(NamedTuple):
    """A room in the spool's index: its sort key, where its bytes are, what the stats count."""

    name: str
    id: str
    line_at: int
    line_len: int
    rows_at: int
    rows_len: int
    service_type: str
    aliases: int
    digest: str  # of its line


class Spooled:
    """The rooms spooled: their lines and CSV rows on disk, their keys in memory."""

    def __init__(self) -> None:
        self.lines: IO[bytes] = tempfile.TemporaryFile(prefix="backup-agent-rooms-", buffering=SPOOL_BUFFER)  # noqa: SIM115
        self.rows: IO[bytes] = tempfile.TemporaryFile(prefix="backup-agent-rows-", buffering=SPOOL_BUFFER)  # noqa: SIM115
        self.index: list[Entry] = []
        self._lines_at = self._rows_at = 0
        self._sorted = False

    def add(self, room: dict[str, Any]) -> None:
        """Spool one room (assembled, its references named)."""
        self._sorted = False
        line = export.room_line(room)
        rows = export.csv_rows(room)
        # Offsets counted here: tell() on a buffered file is a flush and a seek per call.
        self.index.append(Entry(str(room.get("name")), str(room.get("id")), self._lines_at,
                                len(line), self._rows_at, len(rows),
                                str(room.get("service_type")), len(room["aliases"]),
                                export.line_digest(line)))
        self.lines.write(line)
        self.rows.write(rows)
        self._lines_at += len(line)
        self._rows_at += len(rows)

    def ordered(self) -> list[Entry]:
        """The index in the export's order (by name, then id)."""
        if not self._sorted:
            self.index.sort(key=lambda e: (e.name, e.id))
            self._sorted = True
        return self.index

    def in_order(self) -> Iterator[tuple[list[bytes], list[bytes], list[Entry]]]:
        """The rooms' lines, CSV rows and index entries in the export's order (by name, then
        id), CHUNK rooms at a time.

        One pread per room and spool: about 1 µs each from the page cache, and nothing of the
        spools in this process's memory. Mapped, each room read faulted in 64 KB around it:
        40 MB more peak RSS at 50,000 rooms, and no faster.
        """
        self.lines.flush()
        self.rows.flush()
        lines, rows = self.lines.fileno(), self.rows.fileno()
        ordered = self.ordered()
        for start in range(0, len(ordered), CHUNK):
            part = ordered[start:start + CHUNK]
            yield ([pread(lines, e.line_len, e.line_at) for e in part],
                   [pread(rows, e.rows_len, e.rows_at) if e.rows_len else b"" for e in part], part)

    def close(self) -> None:
        self.lines.close()
        self.rows.close()


def stream_rooms(client: InfinityClient) -> Spooled | None:
    """Every room of the node spooled (see the module docstring); None when the conferences
    do not nest their aliases. A list that changes while read is read once more."""
    try:
        return _stream(client)
    except ListChanged as first:
        try:
            return _stream(client)
        except ListChanged as again:
            raise ApiError(f"deployment {client.deployment.name}: the list conference changed "
                           f"while it was read, twice ({first.args[0]}; then {again.args[0]}): "
                           "rooms are being added or deleted; run it again when that stops") from again


def _stream(client: InfinityClient) -> Spooled | None:
    dep = client.deployment
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-list") as pool:
        # The participants' schema read in the thread that lists them, beside the rooms' one
        # (one round trip before the first page, not two).
        listing = pool.submit(lambda: client.list_all(
            export.CONFIG + "automatic_participant/", stable_order(client, "automatic_participant")))
        order = stable_order(client, "conference")
        pages = iter_concurrent(client.transport, export.CONFIG + "conference/", order,
                                dep.page_size, dep.max_concurrency)
        first = next(pages, [])
        participants = {str(p.get("id")): p for p in listing.result()}
    namer = _Namer(client)
    out = Spooled()
    try:
        for page in _chain(first, pages):
            if export.nested_aliases(page) is None:
                pages.close()  # ends the page fetches now
                out.close()
                return None
            for room in page:
                _assemble(client, room, participants)
            if page is first:  # what the first rooms point into, listed at once (not in turn)
                namer.list_for(page)
            for room in page:
                namer.name(room)
                out.add(room)
    except BaseException:
        out.close()
        raise
    return out


def _chain(first: list[dict[str, Any]],
           rest: Iterator[list[dict[str, Any]]]) -> Iterator[list[dict[str, Any]]]:
    yield first
    yield from rest


def _alias_key(alias: dict[str, Any]) -> str:
    return str(alias.get("alias"))


def _assemble(client: InfinityClient, room: dict[str, Any], parts: dict[str, Any]) -> None:
    """As :func:`export.assemble` does, for one room (its aliases already complete)."""
    if len(aliases := room["aliases"]) > 1:
        room["aliases"] = sorted(aliases, key=_alias_key)
    whole = []
    for ref in room.get("automatic_participants") or []:
        pid = export._participant_id(ref)
        if pid not in parts:  # created after the participant list was read
            got = export._get(client, f"{export.CONFIG}automatic_participant/{pid}/")
            if got is not None:
                parts[pid] = got
        whole.append(parts.get(pid, ref))
    room["automatic_participants"] = whole


def _keys(obj: dict[str, Any], skip: frozenset[str]) -> list[str]:
    """Every field of ``obj`` that may hold a reference, when no schema names them."""
    return [k for k in obj if k not in skip and k != references.SELF]


class _Namer:
    """Names references as :func:`export._name_references` does, listing each referenced
    resource the first time a room points into it."""

    def __init__(self, client: InfinityClient) -> None:
        self.client = client
        self.room_refs = export._related(client, "conference")
        self.part_refs = export._related(client, "automatic_participant")
        # The related fields less the skipped ones, once (None: every field is looked at).
        self._room_keys = None if self.room_refs is None else tuple(self.room_refs - export.NESTED)
        self._part_keys = None if self.part_refs is None else tuple(self.part_refs - SKIP_PART)
        self.names: dict[str, str] = {}
        self.listed: set[str] = set()

    def name(self, room: dict[str, Any]) -> None:
        keys = self._room_keys
        self._name(room, _keys(room, export.NESTED) if keys is None else keys)
        keys = self._part_keys
        for part in room["automatic_participants"]:
            if isinstance(part, dict):
                self._name(part, _keys(part, SKIP_PART) if keys is None else keys)

    def _name(self, obj: dict[str, Any], keys: Iterable[str]) -> None:
        """references.name, listing a resource the first time a reference points into it
        (one pass over the fields for both)."""
        for key in keys:
            value = obj.get(key)
            # Empty or absent, as most related fields of most rooms are: no reference.
            if not value or not references.is_ref(value):
                continue
            refs = references.items(value)
            for ref in refs:
                resource = references.resource_of(str(references.ref_uri(ref)))
                if resource not in self.listed:
                    self._list(resource)
            done = [references.named(v, self.names) for v in refs]
            obj[key] = done if isinstance(value, list) else done[0]

    def list_for(self, rooms: list[dict[str, Any]]) -> None:
        """List every resource ``rooms`` (and their participants) point into, concurrently
        within the client's bound; :meth:`name` then finds them listed."""
        parts = [p for r in rooms for p in r["automatic_participants"] if isinstance(p, dict)]
        wanted = (references.resources(rooms, export.NESTED, self.room_refs)
                  | references.resources(parts, SKIP_PART, self.part_refs))
        todo = sorted(wanted - self.listed)
        if len(todo) < 2:
            return
        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="export-names") as pool:
            listed = list(pool.map(lambda r: export._named(self.client, r), todo))
        for resource, objects in zip(todo, listed, strict=True):
            self.listed.add(resource)
            self._keep(objects)

    def _list(self, resource: str) -> None:
        self.listed.add(resource)
        self._keep(export._named(self.client, resource))

    def _keep(self, objects: list[dict[str, Any]]) -> None:
        self.names.update({str(o["resource_uri"]): str(o["name"]) for o in objects
                           if o.get("resource_uri") and o.get("name") is not None})



class Serialised:
    """The rooms as the export stores them, from their spool in the export's order: the
    per-room digests the diff compares, the counts and the content sha256 (all from the
    index, made as the rooms were spooled), then rooms.json and both CSVs written in one pass
    over the spool (nothing but the index and the digests grow with the rooms)."""

    def __init__(self, spooled: Spooled) -> None:
        self.spooled = spooled
        ordered = spooled.ordered()
        self.digests = {e.name: e.digest for e in ordered}
        self.sha256 = export.content_digest(e.digest for e in ordered)
        self.stats = {"rooms": len(self.digests), "aliases": sum(e.aliases for e in ordered),
                      "by_service_type": dict(Counter(e.service_type for e in ordered))}

    def write(self, env: Env, keys: dict[str, str], header: dict[str, Any]) -> list[FileRecord]:
        """rooms.json (header, one room per line, footer) and each CSV (header, then its
        rooms' rows), written into the store side by side in one pass over the spool."""
        head = json.dumps(header, ensure_ascii=False)[:-1] + ', "conferences": [\n'
        names = ["rooms.json", *export.CSV_FILES.values()]
        with contextlib.ExitStack() as stack:
            sinks = {n: stack.enter_context(env.store.writer(keys[n])) for n in names}
            sinks["rooms.json"].write(head.encode())
            for n in export.CSV_FILES.values():
                sinks[n].write(export.csv_header())
            sep = b""
            for lines, rows, part in self.spooled.in_order():
                sinks["rooms.json"].write(sep + b",\n".join(lines))
                sep = b",\n"
                for service_type, n in export.CSV_FILES.items():
                    if mine := [r for r, e in zip(rows, part, strict=True) if e.service_type == service_type]:
                        sinks[n].write(b"".join(mine))
            sinks["rooms.json"].write(b"\n]}\n" if sep else b"]}\n")
            for n in names:
                sinks[n].commit()
            return [FileRecord(n, keys[n], sinks[n].sha256, sinks[n].size) for n in names]
