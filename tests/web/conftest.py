"""Fixtures of the web tests: the simulator, the daemons a test starts, the in-process CLI."""

from __future__ import annotations

from tests.daemon.conftest import agent, daemons
from tests.web.apikit import sim

__all__ = ["agent", "daemons", "sim"]
