"""The shared provider contract, run by every provider's tests against its real peer.

Each ``tests/providers/test_<type>.py`` calls :func:`exercise_contract` with a provider
connected to its peer; ``test_registry.py`` fails when a registered provider has no such file.
"""

from __future__ import annotations

import pytest

from providers.base import MANAGED_TAG, NotFound, SnapshotProvider, SnapshotState


def exercise_contract(provider: SnapshotProvider, vm: str, missing_vm: str,
                      revert: bool = True) -> None:
    """create/get/list/revert/delete round trip, and NotFound for what does not exist."""
    tags = {MANAGED_TAG: "true", "backup-agent-reason": "contract-test"}
    ref = provider.create(vm, "ba-contract", "contract test", tags)
    assert ref.id, "a snapshot is known by its provider id"
    assert ref.state is SnapshotState.AVAILABLE
    assert ref.tags.get(MANAGED_TAG) == "true"
    got = provider.get(ref.id)
    assert got.id == ref.id and got.vm == ref.vm
    assert ref.id in {s.id for s in provider.list(vm, tags={MANAGED_TAG: "true"})}
    assert ref.id not in {s.id for s in provider.list(vm, tags={MANAGED_TAG: "no-such-value"})}
    if revert:
        provider.revert(ref.id)
    provider.delete(ref.id)
    with pytest.raises(NotFound):
        provider.get(ref.id)
    with pytest.raises(NotFound):
        provider.delete(ref.id)
    with pytest.raises(NotFound):
        provider.create(missing_vm, "ba-contract", "", tags)
