"""The simulated Management Node's configuration: tables of API objects, kept in memory.

Rows are stored in the API's write shape (related objects as resource URIs), so listing is a
copy plus the computed fields: ``resource_uri``, a conference's nested ``aliases``, its
embedded ``automatic_participants`` (objects without location, as a real node answers), its
``ivr_theme`` as a nested object and ``scheduled_conferences_count``. One lock guards every
change; reads copy what they return.
"""

from __future__ import annotations

import bisect
import json
import threading
from collections.abc import Iterable
from typing import Any

API = "/api/admin/"
CONFIG = API + "configuration/v1/"
#: The configuration tables a backup, a VM snapshot and a reset cover, in dependency order.
TABLES = ("system_location", "ivr_theme", "conference", "conference_alias",
          "automatic_participant", "worker_vm")
SERVICE_TYPES = ("conference", "lecture", "two_stage_dialing", "test_call", "media_playback")
#: The fields of an automatic participant embedded in its conference (no resource_uri,
#: conference or system_location: those only the standalone object has).
EMBEDDED_PARTICIPANT = ("id", "alias", "call_type", "creation_time", "description", "dtmf_sequence",
                        "keep_conference_alive", "presentation_url", "protocol",
                        "remote_display_name", "role", "routing", "streaming")

DEFAULT_AUTOBACKUP: dict[str, Any] = {
    "autobackup_enabled": False,
    "autobackup_interval": 24,
    "autobackup_start_hour": 1,
    "autobackup_passphrase": "",
    "autobackup_upload_url": "",
    "autobackup_upload_username": "",
    "autobackup_upload_password": "",
}


def uri(table: str, ident: int | str) -> str:
    """The resource URI of one configuration object."""
    return f"{CONFIG}{table}/{ident}/"


def id_of(resource_uri: str | None) -> int | None:
    """The numeric id at the end of a resource URI (None when it is not one)."""
    if not resource_uri:
        return None
    tail = str(resource_uri).rstrip("/").rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else None


class ValidationError(Exception):
    """A create or update the real API would refuse with 400; ``errors`` is its JSON body."""

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__(json.dumps(errors))
        self.errors = errors


class Config:
    """The configuration tables and their indexes. Callers hold :attr:`lock` for changes."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tables: dict[str, dict[int, dict[str, Any]]] = {t: {} for t in TABLES}
        self.next_id: dict[str, int] = dict.fromkeys(TABLES, 1)
        self.autobackup: dict[str, Any] = dict(DEFAULT_AUTOBACKUP)
        # conference id -> alias ids / automatic participant ids, so nesting stays O(1)
        self._aliases_of: dict[int, list[int]] = {}
        self._participants_of: dict[int, list[int]] = {}
        # rendered JSON per object: listing 20,000 rooms is then mostly a join of bytes
        self._json: dict[tuple[str, int], bytes] = {}

    # -- writing -------------------------------------------------------------------------
    def insert(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        """Store ``row`` under the next id (or its own ``id``) and index it."""
        with self.lock:
            ident = int(row.get("id") or self.next_id[table])
            row["id"] = ident
            self.tables[table][ident] = row
            self.next_id[table] = max(self.next_id[table], ident + 1)
            self._index(table, row)
            return row

    def _forget(self, table: str, row: dict[str, Any]) -> None:
        """Drop cached JSON of ``row`` and of the conferences that nest it."""
        if not self._json:
            return  # nothing rendered yet (seeded generation, a load): skip the work
        self._json.pop((table, row["id"]), None)
        if table == "conference_alias":
            self._json.pop(("conference", id_of(row.get("conference")) or 0), None)
        elif table == "automatic_participant":
            for conf_uri in row.get("conference") or []:
                self._json.pop(("conference", id_of(conf_uri) or 0), None)
        elif table == "ivr_theme":  # conferences nest its name: rare, so forget them all
            self._json.clear()

    def _index(self, table: str, row: dict[str, Any]) -> None:
        self._forget(table, row)
        if table == "conference_alias":
            conf = id_of(row.get("conference"))
            if conf is not None:
                bisect.insort(self._aliases_of.setdefault(conf, []), row["id"])  # id order
        elif table == "automatic_participant":
            for conf_uri in row.get("conference") or []:
                conf = id_of(conf_uri)
                if conf is not None:
                    bisect.insort(self._participants_of.setdefault(conf, []), row["id"])

    def _unindex(self, table: str, row: dict[str, Any]) -> None:
        self._forget(table, row)
        if table == "conference_alias":
            ids = self._aliases_of.get(id_of(row.get("conference")) or 0, [])
            if row["id"] in ids:
                ids.remove(row["id"])
        elif table == "automatic_participant":
            for conf_uri in row.get("conference") or []:
                ids = self._participants_of.get(id_of(conf_uri) or 0, [])
                if row["id"] in ids:
                    ids.remove(row["id"])

    def update(self, table: str, ident: int, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply ``changes`` to one row, keeping indexes right."""
        with self.lock:
            row = self.tables[table][ident]
            self._unindex(table, row)
            row.update({k: v for k, v in changes.items() if k not in ("id", "resource_uri")})
            self._index(table, row)
            return row

    def delete(self, table: str, ident: int) -> None:
        """Remove one row; a conference takes its aliases with it, as in Infinity."""
        with self.lock:
            row = self.tables[table].pop(ident)
            self._unindex(table, row)
            if table == "ivr_theme":  # the services using it go back to the default theme
                own = uri("ivr_theme", ident)
                for conf in self.tables["conference"].values():
                    if conf.get("ivr_theme") == own:
                        conf["ivr_theme"] = None
            if table == "conference":
                for alias_id in list(self._aliases_of.pop(ident, [])):
                    self.tables["conference_alias"].pop(alias_id, None)
                own = uri("conference", ident)
                for part_id in self._participants_of.pop(ident, []):
                    part = self.tables["automatic_participant"].get(part_id)
                    self._json.pop(("automatic_participant", part_id), None)
                    if part is not None:
                        part["conference"] = [c for c in part["conference"] if c != own]

    def clear(self) -> None:
        """An empty Management Node: no rooms, locations or nodes; ids start again at 1."""
        with self.lock:
            self.tables = {t: {} for t in TABLES}
            self.next_id = dict.fromkeys(TABLES, 1)
            self.autobackup = dict(DEFAULT_AUTOBACKUP)
            self._aliases_of.clear()
            self._participants_of.clear()
            self._json.clear()

    # -- reading -------------------------------------------------------------------------
    def rows(self, table: str) -> list[dict[str, Any]]:
        """The stored rows of ``table`` in id order (not copies: do not change them)."""
        with self.lock:
            return list(self.tables[table].values())

    def render(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        """One object as the API answers it."""
        out = dict(row)
        ident = row["id"]
        out["resource_uri"] = uri(table, ident)
        if table == "conference":
            aliases = self.tables["conference_alias"]
            out["aliases"] = [self._nested_alias(aliases[a]) for a in self._aliases_of.get(ident, [])
                              if a in aliases]
            parts = self.tables["automatic_participant"]
            out["automatic_participants"] = [self._embedded_participant(parts[p])
                                             for p in self._participants_of.get(ident, []) if p in parts]
            out["ivr_theme"] = self._nested_theme(row.get("ivr_theme"))
            out["scheduled_conferences"] = list(row.get("scheduled_conferences") or [])
            out["scheduled_conferences_count"] = len(out["scheduled_conferences"])
        elif table == "automatic_participant":
            out["conference"] = list(row.get("conference") or [])
        elif table == "ivr_theme":
            own = out["resource_uri"]
            out["conference"] = [uri("conference", c["id"]) for c in self.tables["conference"].values()
                                 if c.get("ivr_theme") == own]
        return out

    def render_json(self, table: str, row: dict[str, Any]) -> bytes:
        """:meth:`render` as JSON bytes, cached until the object or what it nests changes."""
        if table == "ivr_theme":  # lists the conferences using it: computed on every read
            return json.dumps(self.render(table, row)).encode("utf-8")
        key = (table, row["id"])
        cached = self._json.get(key)
        if cached is None:
            with self.lock:
                cached = self._json[key] = json.dumps(self.render(table, row)).encode("utf-8")
        return cached

    @staticmethod
    def _nested_alias(alias: dict[str, Any]) -> dict[str, Any]:
        return {"alias": alias["alias"], "conference": alias["conference"],
                "creation_time": alias.get("creation_time"),
                "description": alias.get("description", ""), "id": alias["id"]}

    @staticmethod
    def _embedded_participant(part: dict[str, Any]) -> dict[str, Any]:
        # A real node embeds participants without resource_uri, conference or system_location.
        return {k: part.get(k) for k in EMBEDDED_PARTICIPANT}

    def _nested_theme(self, theme_uri: str | None) -> dict[str, Any] | None:
        theme = self.tables["ivr_theme"].get(id_of(theme_uri) or 0)
        if theme is None:
            return None
        return {"id": theme["id"], "name": theme["name"], "resource_uri": uri("ivr_theme", theme["id"])}

    def counts(self) -> dict[str, int]:
        """How many objects of each table exist."""
        with self.lock:
            return {t: len(rows) for t, rows in self.tables.items()}

    def find(self, table: str, field: str, value: Any) -> dict[str, Any] | None:
        """The first row whose ``field`` equals ``value``."""
        with self.lock:
            for row in self.tables[table].values():
                if row.get(field) == value:
                    return row
        return None

    # -- whole configuration (backups, VM snapshots) -------------------------------------
    def dump(self) -> dict[str, Any]:
        """The whole configuration as plain JSON-able data (a deep copy)."""
        with self.lock:
            data = {"tables": {t: list(rows.values()) for t, rows in self.tables.items()},
                    "autobackup": self.autobackup}
            return json.loads(json.dumps(data))

    def load(self, data: dict[str, Any]) -> None:
        """Replace the whole configuration with ``data`` (from :meth:`dump`)."""
        tables = data.get("tables")
        if not isinstance(tables, dict):
            raise ValueError("configuration data has no tables")
        with self.lock:
            self.clear()
            self.autobackup.update(data.get("autobackup") or {})
            for table in TABLES:
                for row in tables.get(table) or []:
                    self.insert(table, dict(row))

    def insert_many(self, table: str, rows: Iterable[dict[str, Any]]) -> None:
        """Bulk insert (seeded generation)."""
        with self.lock:
            for row in rows:
                self.insert(table, row)
