"""Drive a provider the way the agent does: agent.toml text -> config.parse -> open_provider ->
``snapshots.take`` (parallel creates on one shared provider instance), then read back what
was made through ``get`` and ``list(vm, tags={"backup-agent": "true"})``.

Each provider's test module calls :func:`take_through_agent` against its own peer.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from backup_agent import config as agent_config
from backup_agent.catalog import RestorePoint, Run
from backup_agent.jobs import snapshots
from backup_agent.jobs.env import Env
from providers.base import MANAGED_TAG, SnapshotProvider

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
DEPLOYMENT = "Prod.OSL_1"  # a legal deployment name that GCE labels must normalise


@dataclass
class AgentRun:
    env: Env
    run: Run
    points: list[RestorePoint]
    provider: SnapshotProvider


def agent_toml(tmp_path: Path, provider_table: str, vms: Sequence[str]) -> str:
    """An agent.toml with one deployment whose nodes ``n0..`` are ``vms`` on provider ``p``."""
    nodes = "".join(f'\n[[deployments.nodes]]\nname = "n{i}"\nrole = "conferencing"\n'
                    f'provider = "p"\nvm = "{vm}"\n' for i, vm in enumerate(vms))
    return (f'[storage]\npath = "{tmp_path / "store"}"\n\n'
            f'[[deployments]]\nname = "{DEPLOYMENT}"\nurl = "https://mgr.example.com"\n'
            f'password_env = "BA_TEST_UNUSED"\n{nodes}\n[providers.p]\n{provider_table}\n')


def take_through_agent(tmp_path: Path, provider_table: str, vms: Sequence[str],
                       parallel: int = 8) -> AgentRun:
    """Snapshot every VM in parallel as ``backup-agent snapshot create`` would; all must succeed."""
    cfg = agent_config.parse(tomllib.loads(agent_toml(tmp_path, provider_table, vms)))
    env = Env.open(cfg, clock=lambda: NOW)
    dep = cfg.deployments[0]
    run = snapshots.take(env, dep, list(dep.nodes), "pre-upgrade", parallel=parallel)
    # The deployment's Management Node is not simulated here: its inventory item is skipped.
    failed = {name: reason for name, (outcome, reason) in run.items.items()
              if outcome != "ok" and name != "inventory"}
    assert not failed, f"snapshots failed: {failed}"
    points = [env.catalog.restore_point(s["id"]) for s in run.summary["snapshots"]]
    assert len(points) == len(vms)
    provider = snapshots.open_provider(env, "p")
    return AgentRun(env, run, points, provider)


def check_tags_round_trip(result: AgentRun) -> None:
    """What the agent made is found again by get() and by list(vm, managed tag)."""
    p = result.provider
    for rp in result.points:
        ref = p.get(rp.data["provider_id"])
        assert ref.id == rp.data["provider_id"]
        assert ref.tags.get(MANAGED_TAG) == "true", ref.tags
        assert ref.tags.get("backup-agent-expires") == "2026-12-10", ref.tags
        assert ref.tags.get("backup-agent-reason") == "pre-upgrade", ref.tags
        assert ref.tags.get("backup-agent-node") == rp.node, ref.tags
        found = p.list(rp.data["vm"], tags={MANAGED_TAG: "true"})
        assert rp.data["provider_id"] in {r.id for r in found}
        by_node = p.list(rp.data["vm"], tags={"backup-agent-node": str(rp.node)})
        assert [r.id for r in by_node] == [rp.data["provider_id"]]
