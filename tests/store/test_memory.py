"""The in-memory store keeps the contract (what job tests on it rely on)."""

from __future__ import annotations

from backup_agent.store import MemoryStore, file_key
from tests.store.contract import exercise_contract, sha


def test_memory_store_keeps_the_contract() -> None:
    exercise_contract(MemoryStore())


def test_a_corrupted_object_fails_its_check() -> None:
    store = MemoryStore()
    key = file_key("prod", "inventory", "inv-1", "inventory.json")
    store.put_bytes(key, b"{}")
    store.corrupt(key, b"[]")
    assert store.check(key, 2, sha(b"{}")) == "sha256 mismatch"
