"""What a job runs with: configuration, catalog, store, clock, progress, and the pools of
Management Node clients and snapshot providers.

An :class:`Env` is a context manager: ``with Env.open(config) as env:`` closes every client,
provider and the catalog on the way out. It sets up no logging (the entry point does, once per
process: :mod:`backup_agent.logsetup`) and holds no module-global state: two Envs in one
process (the CLI's and a drill's, or a daemon's ticks) share nothing they did not share
explicitly.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from backup_agent import filelock
from backup_agent.catalog import Catalog, open_catalog
from backup_agent.config import Config, Deployment
from backup_agent.errors import ConfigError, NotReadyError, ProviderError
from backup_agent.store import Store, open_store

if TYPE_CHECKING:
    from backup_agent.infinity import InfinityClient
    from providers.base import SnapshotProvider

log = logging.getLogger(__name__)
Progress = Callable[[int, int | None], None]  # (bytes so far, total or None)


def utcnow() -> datetime:
    return datetime.now(UTC)


@contextmanager
def provider_errors(what: str) -> Iterator[None]:
    """Turn the provider package's typed errors into the agent's, at the boundary."""
    from providers.base import ProviderConfigError
    from providers.base import ProviderError as PError

    try:
        yield
    except ProviderConfigError as exc:
        raise ConfigError(f"{what}: {exc}") from exc
    except PError as exc:
        err = ProviderError(f"{what}: {exc}")
        err.kind = type(exc).__name__  # type: ignore[attr-defined]
        raise err from exc


class ClientPool:
    """One Management Node client (and so one HTTP session) per deployment, made on first use.

    ``sleep`` is what the clients wait between retries with (a no-op in tests).
    """

    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        self.sleep = sleep
        self._clients: dict[str, InfinityClient] = {}
        self._lock = threading.Lock()

    def get(self, deployment: Deployment) -> InfinityClient:
        with self._lock:
            client = self._clients.get(deployment.name)
            if client is None:
                from backup_agent.infinity import InfinityClient

                client = self._clients[deployment.name] = InfinityClient(deployment, sleep=self.sleep)
            return client

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()


class ProviderPool:
    """The providers of ``[providers.NAME]``, each constructed once, on first use.

    Snapshot jobs open providers from several threads: one constructs, the others wait (a
    second, discarded instance would leak its session, e.g. a vCenter login).
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self._providers: dict[str, SnapshotProvider] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> SnapshotProvider:
        from providers import registry

        with self._lock:
            if name not in self._providers:
                if name not in self.config.providers:
                    known = ", ".join(sorted(self.config.providers)) or "none"
                    raise ConfigError(f"no provider named {name!r} (configured: {known})")
                pc = self.config.providers[name]
                with provider_errors(f"provider {name}"):
                    self._providers[name] = registry.create_provider(pc.type, pc.resolved())
            return self._providers[name]

    def close(self) -> None:
        with self._lock:
            providers, self._providers = list(self._providers.items()), {}
        for name, provider in providers:
            try:
                provider.close()
            except Exception as exc:  # a failed logout must not hide how the run ended
                log.warning("provider %s: closing failed: %s", name, type(exc).__name__)


@dataclass
class Env:
    """The shared state of one CLI invocation or one daemon tick."""

    config: Config
    catalog: Catalog
    store: Store
    clock: Callable[[], datetime] = utcnow
    progress: Callable[[str], Progress | None] = lambda label: None
    clients: ClientPool = field(default_factory=ClientPool)
    providers: ProviderPool = field(init=False)

    def __post_init__(self) -> None:
        self.providers = ProviderPool(self.config)

    @classmethod
    def open(cls, config: Config, *, clock: Callable[[], datetime] = utcnow,
             progress: Callable[[str], Progress | None] | None = None,
             sleep: Callable[[float], None] = time.sleep) -> Env:
        """The Env of ``config``: its catalog and store opened, no client made yet."""
        catalog = open_catalog(config.catalog_path)
        return cls(config=config, catalog=catalog, store=open_store(config.store_path),
                   clock=clock, progress=progress or (lambda label: None),
                   clients=ClientPool(sleep))

    def __enter__(self) -> Env:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def log_path(self) -> Path:
        """The agent's own log: what ``support-bundle`` attaches. Never holds a secret."""
        return log_path(self.config)

    @contextmanager
    def lock(self, name: str, holder: str = "", what: str | None = None) -> Iterator[None]:
        """Hold the lock ``name`` (e.g. ``restore-prod``) across processes, or refuse at once.

        The lock is an flock on a file under the storage path: the kernel drops it when the
        holder dies, so a crash never leaves it stuck. ``holder`` (what is running) is written
        into it with the pid, for the message of the one refused, which calls the lock ``what``.
        """
        def refused(held: str) -> NotReadyError:
            return NotReadyError(f"{what or name} is already running ({held or 'another process'}); "
                                 "wait for it or stop it first")

        mine = f"{holder}, pid {os.getpid()}" if holder else f"pid {os.getpid()}"
        with filelock.held(self.config.storage_path / "locks" / f"{name}.lock", mine, refused):
            yield

    def client(self, deployment: Deployment) -> InfinityClient:
        """The deployment's Management Node client (one per deployment per Env)."""
        return self.clients.get(deployment)

    def provider(self, name: str) -> SnapshotProvider:
        """The provider configured as ``[providers.NAME]``, constructed once per Env."""
        return self.providers.get(name)

    def close(self) -> None:
        self.clients.close()
        self.providers.close()
        self.catalog.close()


def log_path(config: Config) -> Path:
    """Where the agent's own log lives for ``config``."""
    return config.storage_path / "logs" / "agent.log"
