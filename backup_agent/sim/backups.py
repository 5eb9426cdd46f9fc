"""Configuration backups on disk and background backup requests.

Backup requests (``status/v1/backup_request/``) go ``queued`` -> ``in_progress`` ->
``completed`` (or ``failed`` with ``message``); those state words are this simulator's
reading of an unconfirmed part of the API.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from backup_agent.sim.backupfile import write_backup
from backup_agent.sim.model import API

SYSTEM_BACKUP = API + "configuration/v1/system_backup/"
BACKUP_REQUEST = API + "status/v1/backup_request/"


class BackupFailed(Exception):
    """A backup the node could not make (the ``fail_backup`` fault)."""


def api_time(moment: datetime) -> str:
    """A timestamp as the API writes it: UTC, microseconds, no zone."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")


class BackupStore:
    """Backup files in one private directory, listed by filename."""

    def __init__(self, directory: Path, now: Callable[[], datetime]) -> None:
        self.directory = directory
        self.now = now
        self.lock = threading.RLock()
        self.entries: dict[str, dict[str, Any]] = {}  # filename -> listing + "path"
        self.requests: dict[int, dict[str, Any]] = {}
        self._next_request = 1

    def create(self, config: dict[str, Any], passphrase: str, meta: dict[str, Any],
               padding: int = 0, filename: str | None = None, kind: str = "manual") -> dict[str, Any]:
        """Write a backup of ``config``; return its listing entry (with ``path``)."""
        moment = self.now()
        name = filename or self._filename(meta, moment)
        path = self.directory / f"{uuid.uuid4().hex}.bak"  # never the listed name: it may be hostile
        size, sha = write_backup(path, config, passphrase,
                                 dict(meta, created=api_time(moment)), padding)
        entry = {"filename": name, "date": api_time(moment), "size": size, "sha256sum": sha,
                 "version": meta["version"], "build": meta["build"], "type": kind,
                 "path": path}
        with self.lock:
            self.entries[name] = entry
        return entry

    def _filename(self, meta: dict[str, Any], moment: datetime) -> str:
        stem = (f"pexip_backup_{meta['management']}_{meta['version']}_{meta['build']}_"
                f"{moment:%y_%m_%d_%H_%M_%S}").replace(".", "_")
        name, n = f"{stem}.tar.enc", 1
        with self.lock:
            while name in self.entries:
                n += 1
                name = f"{stem}_{n}.tar.enc"
        return name

    def listing(self) -> list[dict[str, Any]]:
        """Listing entries, oldest first (``path`` included: strip it before answering)."""
        with self.lock:
            return sorted(self.entries.values(), key=lambda e: e["date"])

    def get(self, filename: str) -> dict[str, Any] | None:
        with self.lock:
            return self.entries.get(filename)

    def delete(self, filename: str) -> bool:
        """Remove a backup and its file; False when there is none of that name."""
        with self.lock:
            entry = self.entries.pop(filename, None)
        if entry is None:
            return False
        Path(entry["path"]).unlink(missing_ok=True)
        return True

    def clear(self) -> None:
        """Remove every backup and request."""
        with self.lock:
            names = list(self.entries)
            self.requests.clear()
        for name in names:
            self.delete(name)

    # -- background requests -------------------------------------------------------------
    def new_request(self) -> dict[str, Any]:
        """Record a queued backup request."""
        stamp = api_time(self.now())
        with self.lock:
            ident = self._next_request
            self._next_request += 1
            req = {"id": ident, "state": "queued", "message": "", "download_uri": None,
                   "created_at": stamp, "updated_at": stamp,
                   "resource_uri": f"{BACKUP_REQUEST}{ident}/", "filename": None}
            self.requests[ident] = req
            return dict(req)

    def update_request(self, ident: int, **changes: Any) -> None:
        with self.lock:
            req = self.requests.get(ident)
            if req is not None:
                req.update(changes, updated_at=api_time(self.now()))

    def run_request(self, ident: int, make: Callable[[], dict[str, Any]], delay: float) -> None:
        """Run one backup request in the background: queued, in progress, completed."""
        def work() -> None:
            time.sleep(delay / 2)
            self.update_request(ident, state="in_progress")
            time.sleep(delay / 2)
            try:
                entry = make()
            except Exception as exc:  # a request records its failure, as the node would
                self.update_request(ident, state="failed", message=f"Backup failed: {exc}")
                return
            self.update_request(ident, state="completed", filename=entry["filename"],
                                download_uri=f"{BACKUP_REQUEST}{ident}/download/",
                                message="Backup completed")
        threading.Thread(target=work, name=f"sim-backup-request-{ident}", daemon=True).start()

    def request_rows(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self.requests.values()]

    def request(self, ident: int) -> dict[str, Any] | None:
        with self.lock:
            req = self.requests.get(ident)
            return dict(req) if req else None
