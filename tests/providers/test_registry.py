"""The registry: entry points, clear errors, and every provider tested against its peer."""

from __future__ import annotations

from pathlib import Path

import pytest

from providers import registry
from providers.base import ProviderConfigError

HERE = Path(__file__).parent


def test_unknown_type_lists_installed() -> None:
    with pytest.raises(ProviderConfigError, match=r"unknown provider type 'nope' \(installed: "):
        registry.provider_class("nope")


def test_every_registered_provider_has_peer_tests() -> None:
    for name in sorted(registry.available()):
        test_file = HERE / f"test_{name}.py"
        assert test_file.exists(), f"provider {name!r} is registered but has no {test_file.name}"
        assert "exercise_contract" in test_file.read_text(), f"{test_file.name} must run the contract"
