"""What a job runs with: configuration, catalog, store, clock, progress, and clients."""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backup_agent.catalog import Catalog, open_catalog
from backup_agent.config import Config, Deployment
from backup_agent.errors import NotReadyError, StoreError
from backup_agent.logformat import UTCFormatter
from backup_agent.store import Store, open_store

if TYPE_CHECKING:
    from backup_agent.infinity import InfinityClient

log = logging.getLogger(__name__)
Progress = Callable[[int, int | None], None]  # (bytes so far, total or None)


class _PrivateRotatingFileHandler(RotatingFileHandler):
    """A rotating log whose new files are 0600 too, not the umask's 0644."""

    def _open(self) -> Any:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


def attach_file_log(path: Path) -> logging.Handler | None:
    """Also log to ``path`` (rotated, 0600), once per path per process; the new handler."""
    root = logging.getLogger()
    if any(getattr(h, "baseFilename", None) == str(path) for h in root.handlers):
        return None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        handler = _PrivateRotatingFileHandler(path, maxBytes=5_000_000, backupCount=3,
                                              encoding="utf-8")
    except OSError as exc:  # a read-only store still lets read commands run
        log.warning("cannot write the agent log %s: %s", path, exc.strerror)
        return None
    handler.setLevel(logging.INFO)
    handler.setFormatter(UTCFormatter())
    root.addHandler(handler)
    return handler


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Env:
    """The shared state of one CLI invocation or one daemon tick."""

    config: Config
    catalog: Catalog
    store: Store
    clock: Callable[[], datetime] = utcnow
    progress: Callable[[str], Progress | None] = lambda label: None
    _clients: dict[str, Any] = field(default_factory=dict)
    _log_handler: logging.Handler | None = None

    @classmethod
    def open(cls, config: Config, **kw: Any) -> Env:
        env = cls(config=config, catalog=open_catalog(config.catalog_path),
                  store=open_store(config.store_path), **kw)
        env._log_handler = attach_file_log(env.log_path)
        return env

    @property
    def log_path(self) -> Path:
        """The agent's own log: what ``support-bundle`` attaches. Never holds a secret."""
        return self.config.storage_path / "logs" / "agent.log"

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Hold the lock ``name`` (e.g. ``restore-prod``) across processes, or refuse at once.

        Two restores of one deployment, or a manual backup racing the daemon's, must not
        interleave. The lock is an flock on a file under the storage path: the kernel drops it
        when the holder dies, so a crash never leaves it stuck.
        """
        path = self.config.storage_path / "locks" / f"{name}.lock"
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            fh = os.fdopen(fd, "a+")
        except OSError as exc:
            raise StoreError(f"cannot take the lock {path}: {exc.strerror or exc}") from exc
        with fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read().strip() or "another process"
                raise NotReadyError(f"{name} is already running ({holder}); "
                                    "wait for it or stop it first") from None
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}")
            fh.flush()
            try:
                yield
            finally:
                fh.seek(0)
                fh.truncate()
                fcntl.flock(fh, fcntl.LOCK_UN)

    def client(self, deployment: Deployment) -> InfinityClient:
        """One client (and so one HTTP session) per deployment."""
        if deployment.name not in self._clients:
            from backup_agent.infinity import InfinityClient

            self._clients[deployment.name] = InfinityClient(deployment)
        client: InfinityClient = self._clients[deployment.name]
        return client

    def close(self) -> None:
        for client in self._clients.values():
            close = getattr(client, "close", None)
            if close:
                close()
        self._clients.clear()
        self.catalog.close()
        if self._log_handler is not None:
            logging.getLogger().removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None
