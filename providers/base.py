"""The provider contract: a small base class, one snapshot record, typed errors.

A provider makes VM-level snapshots on one platform. It is constructed from its settings (a
plain mapping: the ``[providers.NAME]`` table of agent.toml with secrets already resolved,
``password_env``/``password_file`` becoming ``password``), and speaks in provider ids: a
snapshot is always known by the id the platform gave it, never by its name alone.

Modelled on libcloud's ``VolumeSnapshot`` and Velero's VolumeSnapshotter: verb_noun
operations passing ids and tag maps, results normalised into :class:`SnapshotRef` with
vendor-only data in ``extra``, states a closed enum.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

#: Tag every snapshot made by the agent carries; list/delete touch only those by default.
MANAGED_TAG = "backup-agent"  # value "true"; keys and values stay [a-z0-9-] for GCP labels
DEFAULT_TIMEOUT = 1800.0


class SnapshotState(enum.StrEnum):
    """Where a snapshot is in its life. Closed: providers map their own states onto these."""

    CREATING = "creating"
    AVAILABLE = "available"
    DELETING = "deleting"
    ERROR = "error"


@dataclass(frozen=True)
class SnapshotRef:
    """One snapshot of one VM, however many disks it covers.

    ``id`` is the provider's own identifier (a MoRef, an EBS snapshot id set, an ARM
    resource id...), stable and sufficient for :meth:`SnapshotProvider.get`, ``delete`` and
    ``revert``.
    """

    id: str
    vm: str
    name: str
    created: datetime
    state: SnapshotState
    tags: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "vm": self.vm,
            "name": self.name,
            "created": self.created.isoformat(),
            "state": self.state.value,
            "tags": dict(self.tags),
            "description": self.description,
            "extra": dict(self.extra),
        }


class ProviderError(Exception):
    """Base of the typed provider errors. Messages never contain credentials."""


class ProviderConfigError(ProviderError):
    """The provider's settings are missing a key, have an unknown one, or a bad value."""


class NotFound(ProviderError):
    """The VM or snapshot does not exist."""


class AmbiguousVM(ProviderError):
    """More than one VM matches (e.g. two vSphere VMs of one name): ask for a unique id."""


class AuthFailed(ProviderError):
    """The platform refused the credentials."""


class ProviderTimeout(ProviderError):
    """A platform task did not finish in time."""


class Unreachable(ProviderError):
    """The platform endpoint cannot be reached, or its identity (TLS, host key) is wrong."""


class UnsupportedOption(ProviderError):
    """An option this provider does not know or cannot honour."""


class InUse(ProviderError):
    """The snapshot is still used by another resource and cannot be deleted."""


class TaskFailed(ProviderError):
    """The platform ran the task and reported failure."""


class SnapshotProvider(abc.ABC):
    """A platform that makes, lists, reverts and removes VM snapshots.

    Subclasses set ``type_name``, ``settings_keys`` (the keys of their settings, checked when
    the agent's configuration is loaded) and ``options`` (the per-call options they accept in
    :meth:`create`), and document vendor-only settings in their module docstring.
    Every call that waits takes ``wait`` and ``timeout`` (seconds, default from the
    ``timeout`` setting, else :data:`DEFAULT_TIMEOUT`).
    """

    type_name: ClassVar[str]
    #: Every settings key the provider accepts, secrets by the name it sees (``password``, not
    #: ``password_env``), without ``type``. ``None``: not declared, checked only when built.
    settings_keys: ClassVar[frozenset[str] | None] = None
    options: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings = dict(settings)
        self.timeout = float(self.settings.get("timeout", DEFAULT_TIMEOUT))

    def check_options(self, options: Mapping[str, Any] | None) -> dict[str, Any]:
        """Refuse options this provider does not know, with the list it does."""
        options = dict(options or {})
        unknown = sorted(set(options) - self.options)
        if unknown:
            known = ", ".join(sorted(self.options)) or "none"
            raise UnsupportedOption(
                f"{self.type_name}: unsupported option(s) {', '.join(unknown)} (known: {known})"
            )
        return options

    @abc.abstractmethod
    def create(
        self,
        vm: str,
        name: str,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        options: Mapping[str, Any] | None = None,
        *,
        wait: bool = True,
        timeout: float | None = None,
    ) -> SnapshotRef:
        """Snapshot ``vm`` (all its disks) and return the new snapshot.

        A snapshot whose task fails or times out is deleted if it was half-made, or the
        error names its id so it is never left silently.
        """

    @abc.abstractmethod
    def list(self, vm: str | None = None, tags: Mapping[str, str] | None = None) -> list[SnapshotRef]:
        """Snapshots of ``vm`` (all VMs when None) that carry every tag in ``tags``."""

    @abc.abstractmethod
    def get(self, snapshot_id: str) -> SnapshotRef:
        """The snapshot with this provider id; :class:`NotFound` when it is gone."""

    @abc.abstractmethod
    def delete(self, snapshot_id: str, *, wait: bool = True, timeout: float | None = None) -> None:
        """Remove the snapshot; :class:`InUse` when another resource still needs it."""

    @abc.abstractmethod
    def revert(self, snapshot_id: str, *, wait: bool = True, timeout: float | None = None) -> None:
        """Bring the snapshot's VM back to the snapshot."""

    def vm_exists(self, vm: str) -> bool:
        """Whether ``vm`` resolves to exactly one VM (:class:`AmbiguousVM` if several)."""
        try:
            self.list(vm)
        except NotFound:
            return False
        return True

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections. Safe to call twice."""

    def __enter__(self) -> SnapshotProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
