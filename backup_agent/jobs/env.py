"""What a job runs with: configuration, catalog, store, clock, progress, and clients."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from backup_agent.catalog import Catalog
from backup_agent.config import Config, Deployment
from backup_agent.store import LocalStore

if TYPE_CHECKING:
    from backup_agent.infinity import InfinityClient

log = logging.getLogger(__name__)
Progress = Callable[[int, int | None], None]  # (bytes so far, total or None)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Env:
    """The shared state of one CLI invocation or one daemon tick."""

    config: Config
    catalog: Catalog
    store: LocalStore
    clock: Callable[[], datetime] = utcnow
    progress: Callable[[str], Progress | None] = lambda label: None
    _clients: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, config: Config, **kw: Any) -> Env:
        return cls(config=config, catalog=Catalog(config.catalog_path),
                   store=LocalStore(config.store_path), **kw)

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
