"""Faults on demand: each is armed for a number of requests and used up as they happen.

Faults apply to the Management Node API (``/api/``) only, never to the control API, and are
checked before authentication, as a proxy or an overloaded node would answer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

DISK_FULL = "Not enough disk space to create the backup"


@dataclass
class Fault:
    """One armed response fault: ``kind`` is ``status``, ``html`` or ``malformed``."""

    kind: str
    remaining: int
    status: int = 503
    retry_after: int | None = None
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "remaining": self.remaining, "status": self.status,
                "retry_after": self.retry_after, "path": self.path}


class Faults:
    """The faults armed on one simulator. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._cuts: list[int] = []  # after_bytes of each armed download cut
        self._wrong_sha = 0
        self._evil: list[str] = []
        self._backup_failures: list[str] = []
        self._list_changes: list[list[Any]] = []  # [path, pages to wait, action, times]

    def fail_next(self, count: int = 1, status: int = 503, path: str | None = None) -> None:
        """The next ``count`` API requests (whose path contains ``path``) answer ``status``."""
        if not 400 <= status <= 599:
            raise ValueError("status must be 4xx or 5xx")
        self._arm(Fault("status", count, status=status, path=path))

    def rate_limit_next(self, count: int = 1, retry_after: int = 1, path: str | None = None) -> None:
        """The next ``count`` API requests answer 429 with ``Retry-After: retry_after``."""
        self._arm(Fault("status", count, status=429, retry_after=retry_after, path=path))

    def html_next(self, count: int = 1, path: str | None = None) -> None:
        """The next ``count`` API requests answer 200 with an HTML page (a captive proxy)."""
        self._arm(Fault("html", count, status=200, path=path))

    def malformed_json_next(self, count: int = 1, path: str | None = None) -> None:
        """The next ``count`` API requests answer 200 with a truncated JSON body."""
        self._arm(Fault("malformed", count, status=200, path=path))

    def cut_download(self, after_bytes: int = 1000, times: int = 1) -> None:
        """The next ``times`` backup downloads close the connection after ``after_bytes``."""
        if after_bytes < 0 or times < 0:
            raise ValueError("after_bytes and times must not be negative")
        with self._lock:
            self._cuts.extend([after_bytes] * times)

    def wrong_sha256(self, times: int = 1) -> None:
        """The next ``times`` system_backup answers (list or item) report a wrong sha256sum."""
        with self._lock:
            self._wrong_sha += times

    def evil_filename(self, name: str = "../../etc/passwd") -> None:
        """The next backup created is listed under ``name`` (a hostile filename)."""
        with self._lock:
            self._evil.append(name)

    def fail_backup(self, times: int = 1, message: str = DISK_FULL) -> None:
        """The next ``times`` backups fail: backup_create answers 500, a request ends ``failed``."""
        with self._lock:
            self._backup_failures.extend([message] * times)

    def change_during_list(self, action: str = "delete", after: int = 1, times: int = 1,
                           path: str = "configuration/v1/conference/") -> None:
        """While a list is read: once ``after`` list pages of ``path`` have been answered, a room
        is deleted (``delete``: the first one, so later offsets shift) or added (``add``) before
        each of the next ``times`` pages is answered."""
        if action not in ("delete", "add") or after < 0 or times < 0:
            raise ValueError("action is 'delete' or 'add'; after and times must not be negative")
        with self._lock:
            self._list_changes.append([path, after, action, times])

    def take_list_change(self, path: str) -> str | None:
        """The change to make before answering this list page of ``path``, if one is due."""
        with self._lock:
            for change in self._list_changes:
                if change[0] not in path or change[3] <= 0:
                    continue
                if change[1] > 0:
                    change[1] -= 1
                    return None
                change[3] -= 1
                self._list_changes = [c for c in self._list_changes if c[3] > 0]
                return str(change[2])
        return None

    def clear(self) -> None:
        """Disarm everything."""
        with self._lock:
            self._list_changes.clear()
            self._backup_failures.clear()
            self._faults.clear()
            self._cuts.clear()
            self._wrong_sha = 0
            self._evil.clear()

    def _arm(self, fault: Fault) -> None:
        if fault.remaining < 0:
            raise ValueError("count must not be negative")
        with self._lock:
            self._faults.append(fault)

    # -- used by the server --------------------------------------------------------------
    def take(self, path: str) -> Fault | None:
        """Use up the first armed fault that applies to ``path``."""
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and (fault.path is None or fault.path in path):
                    fault.remaining -= 1
                    self._faults = [f for f in self._faults if f.remaining > 0]
                    return Fault(fault.kind, 1, fault.status, fault.retry_after, fault.path)
        return None

    def armed_for(self, path: str) -> bool:
        """Whether a response fault would answer ``path`` (faults come before auth)."""
        with self._lock:
            return any(f.remaining > 0 and (f.path is None or f.path in path) for f in self._faults)

    def take_cut(self) -> int | None:
        with self._lock:
            return self._cuts.pop(0) if self._cuts else None

    def take_wrong_sha(self) -> bool:
        with self._lock:
            if self._wrong_sha > 0:
                self._wrong_sha -= 1
                return True
            return False

    def take_evil(self) -> str | None:
        with self._lock:
            return self._evil.pop(0) if self._evil else None

    def take_backup_failure(self) -> str | None:
        with self._lock:
            return self._backup_failures.pop(0) if self._backup_failures else None

    def describe(self) -> dict[str, Any]:
        """What is armed, for the control API."""
        with self._lock:
            return {"responses": [f.to_dict() for f in self._faults], "download_cuts": list(self._cuts),
                    "wrong_sha256": self._wrong_sha, "evil_filenames": list(self._evil),
                    "backup_failures": len(self._backup_failures),
                    "list_changes": [{"path": c[0], "after": c[1], "action": c[2], "times": c[3]}
                                     for c in self._list_changes]}

    def arm(self, spec: dict[str, Any]) -> None:
        """Arm a fault from its control-API description (``{"kind": ..., ...}``)."""
        kind = spec.get("kind")
        count = int(spec.get("count", spec.get("times", 1)))
        path = spec.get("path")
        if kind == "fail":
            self.fail_next(count, status=int(spec.get("status", 503)), path=path)
        elif kind == "rate_limit":
            self.rate_limit_next(count, retry_after=int(spec.get("retry_after", 1)), path=path)
        elif kind == "html":
            self.html_next(count, path=path)
        elif kind == "malformed_json":
            self.malformed_json_next(count, path=path)
        elif kind == "cut_download":
            self.cut_download(int(spec.get("after_bytes", 1000)), times=count)
        elif kind == "wrong_sha256":
            self.wrong_sha256(count)
        elif kind == "fail_backup":
            self.fail_backup(count, str(spec.get("message", DISK_FULL)))
        elif kind == "change_rooms":
            self.change_during_list(str(spec.get("action", "delete")), int(spec.get("after", 1)),
                                    times=count)
        elif kind == "evil_filename":
            self.evil_filename(str(spec.get("filename", "../../etc/passwd")))
        else:
            raise ValueError("unknown fault kind; known: fail, rate_limit, html, malformed_json, "
                             "cut_download, wrong_sha256, evil_filename, fail_backup, change_rooms")
