"""Evidence for the planner, for any front end: ``plan`` and ``evidence`` in the CLI, the
daemon's health checks.

:func:`build_evidence` ``(env, deployment, failed, down_since, probe=True)`` is the planner's
live mode: design.md's evidence JSON for one deployment, from the catalog and live probes
(``probe=False``: the catalog alone). It is what ``backup_agent.jobs.evidence.collect``
builds; this is the entry point a front end calls, by deployment name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from backup_agent.jobs.env import Env


def build_evidence(env: Env, deployment: str | None, failed: list[str],
                   down_since: datetime | None, *, probe: bool = True) -> dict[str, Any]:
    """Evidence for the deployment named ``deployment`` (None: the only one configured)."""
    from backup_agent.jobs.evidence import collect

    return collect(env, env.config.deployment(deployment), failed, down_since, probe=probe)
