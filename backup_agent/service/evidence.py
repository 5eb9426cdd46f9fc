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


def plan_document(data: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The plan for evidence ``data`` as ``plan --json`` prints it, and its Markdown runbook."""
    from backup_agent.planner import make_plan, parse_evidence, to_markdown

    unchecked = data.get("snapshot_probes")
    plan = make_plan(parse_evidence(data))
    markdown = to_markdown(plan)
    out = plan.to_dict()
    for path, number in zip(out["paths"], (p.number for p in plan.paths), strict=True):
        path["number"] = number  # what `restore --path N` takes, as the runbook shows it
    if isinstance(unchecked, dict):
        out["snapshot_probes"] = unchecked
        markdown += (f"\nNot checked at their providers: {unchecked.get('not_checked')} older "
                     f"snapshot(s) ({', '.join(unchecked.get('not_checked_ids') or [])}...): "
                     f"{unchecked.get('why')}.\n")
    return out, markdown
