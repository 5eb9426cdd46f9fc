"""The simulator fixture of the job tests, for the service layer's."""

from tests.jobs.conftest import agent, cfg, sim  # noqa: F401
