"""Find providers through the ``backup_agent.providers`` entry-point group.

Built-ins register in this project's pyproject exactly like a third-party package would, and
a provider's module (and so its SDK) is imported only when that provider type is asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from providers.base import ProviderConfigError, SnapshotProvider

GROUP = "backup_agent.providers"


@cache
def available() -> dict[str, EntryPoint]:
    """Installed provider types by name, without importing any of them."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def provider_class(type_name: str) -> type[SnapshotProvider]:
    """The class registered for ``type_name``; a clear error listing the installed types."""
    eps = available()
    if type_name not in eps:
        names = ", ".join(sorted(eps)) or "none"
        raise ProviderConfigError(f"unknown provider type {type_name!r} (installed: {names})")
    cls = eps[type_name].load()
    if not (isinstance(cls, type) and issubclass(cls, SnapshotProvider)):
        raise ProviderConfigError(f"provider {type_name!r} does not implement SnapshotProvider")
    return cls


def create_provider(type_name: str, settings: Mapping[str, Any]) -> SnapshotProvider:
    """Construct a provider of ``type_name`` from its (secret-resolved) settings."""
    return provider_class(type_name)(settings)
