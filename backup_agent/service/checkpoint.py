"""The checkpoint for every front end: the CLI's ``checkpoint`` command and the daemon's API.

Each function returns the one JSON-ready document the command prints with ``--json``; the
exit code of a checkpoint is :func:`exit_code` of it (0 ready, 1 not ready). Refusals raise
their AgentError (a checkpoint already running, a release before the upgrade: exit 4).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from backup_agent.config import Deployment
from backup_agent.errors import EXIT_FAILED, EXIT_OK
from backup_agent.jobs import checkpoint
from backup_agent.jobs.env import Env


def create(env: Env, deployment: Deployment, target_version: str | None = None,
           waive: Iterable[str] = (), parallel: int = 5) -> dict[str, Any]:
    """Take a checkpoint: its gates, parts, ``ready`` and reasons, with the run and its items."""
    run = checkpoint.create(env, deployment, target_version, waive, parallel)
    result: dict[str, Any] = dict(run.summary["checkpoint"])
    result["outcome"] = str(run.outcome)
    result["items"] = run.to_dict()["items"]
    return result


def exit_code(result: dict[str, Any]) -> int:
    """0 when the checkpoint is ready, else 1."""
    return EXIT_OK if result.get("ready") else EXIT_FAILED


def show(env: Env, ckpt_id: str) -> dict[str, Any]:
    return checkpoint.view(checkpoint.find(env, ckpt_id))


def list_(env: Env, deployment: str | None = None) -> list[dict[str, Any]]:
    return [checkpoint.view(rp) for rp in env.catalog.restore_points(deployment, "checkpoint")]


def release(env: Env, ckpt_id: str, dry_run: bool = False, force: bool = False) -> dict[str, Any]:
    from backup_agent.jobs.checkpoint_release import release as release_

    return release_(env, ckpt_id, dry_run=dry_run, force=force)
