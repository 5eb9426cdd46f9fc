"""The reliability suite: the job tests' simulator and in-process CLI runner."""

from tests.jobs.conftest import agent, cfg, sim

__all__ = ["agent", "cfg", "sim"]
