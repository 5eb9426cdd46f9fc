"""A simulated Pexip Infinity deployment, served over real HTTP.

The demo, the drills and the tests run on it. See :class:`Simulator` and :class:`SimOptions`;
the ``/_sim/`` control API (documented in :mod:`backup_agent.sim.control`) lets another
process arm faults, read counts, reset and break the deployment.
"""

from backup_agent.sim.options import DEFAULT_PASSWORD, DEFAULT_USERNAME, SimOptions
from backup_agent.sim.simulator import Simulator

__all__ = ["DEFAULT_PASSWORD", "DEFAULT_USERNAME", "SimOptions", "Simulator"]
