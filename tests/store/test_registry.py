"""Every store implementation has tests that run the shared contract against it."""

from __future__ import annotations

import inspect
from pathlib import Path

import backup_agent.store as store_pkg
from backup_agent.store.base import Store

HERE = Path(__file__).parent


def test_every_store_runs_the_contract() -> None:
    stores = [cls for _, cls in inspect.getmembers(store_pkg, inspect.isclass)
              if Store in cls.__mro__ and cls is not Store]
    assert len(stores) >= 2
    for cls in stores:
        name = cls.__name__.removesuffix("Store").lower()
        test = HERE / f"test_{name}.py"
        assert test.is_file(), f"{cls.__name__} has no {test.name}"
        assert "exercise_contract(" in test.read_text(), f"{test.name} skips the contract"
