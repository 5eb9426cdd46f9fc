"""Snapshots of deployment nodes through the configured providers, recorded in the catalog.

One snapshot of a VM is one restore point of kind ``snapshot``, however many disks it covers;
its catalog id is what ``snapshot delete`` and ``snapshot revert`` take, and the provider's
own id is kept in ``data.provider_id``. Every snapshot carries the agent's tags (who, which
deployment and node, why, until when); listing and deleting touch only those.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from backup_agent.catalog import Kind, RestorePoint, Run, iso
from backup_agent.config import Deployment, Node
from backup_agent.errors import AgentError, CatalogError, ConfigError, ProviderError
from backup_agent.jobs.env import Env, provider_errors
from backup_agent.jobs.runner import frame, run_parallel

if TYPE_CHECKING:
    from providers.base import SnapshotProvider

log = logging.getLogger(__name__)
DEFAULT_KEEP_DAYS = 14  # Pexip advises deleting VM snapshots after about two weeks


def open_provider(env: Env, name: str) -> SnapshotProvider:
    """The provider configured as ``[providers.NAME]``, constructed once per Env."""
    return env.provider(name)


def tags_for(deployment: str, node: str, reason: str, expires: datetime) -> dict[str, str]:
    from providers.base import MANAGED_TAG

    return {MANAGED_TAG: "true", "backup-agent-deployment": deployment,
            "backup-agent-node": node, "backup-agent-reason": reason,
            "backup-agent-expires": expires.strftime("%Y-%m-%d")}


def snapshot_node(env: Env, deployment: Deployment, node: Node, reason: str, run: Run,
                  now: datetime, keep_days: int = DEFAULT_KEEP_DAYS) -> RestorePoint:
    """Snapshot one node's VM and record it; the run item is the node's name."""
    if not node.provider or not node.vm:
        raise ConfigError(f"deployments.{deployment.name}.nodes.{node.name}: "
                          "needs provider and vm to be snapshotted")
    provider = open_provider(env, node.provider)
    expires = now + timedelta(days=keep_days)
    name = f"backup-agent-{node.name}-{now:%Y%m%dT%H%M%SZ}"
    with provider_errors(f"snapshot of {node.name} ({node.provider})"):
        ref = provider.create(node.vm, name, f"{reason} by backup-agent",
                              tags_for(deployment.name, node.name, reason, expires))
    try:
        inv = env.catalog.latest(deployment.name, "inventory")
        rp = RestorePoint(
            id=env.catalog.new_id(f"snap-{node.name}", deployment.name, now), kind=Kind.SNAPSHOT,
            deployment=deployment.name, taken_at=now, version=inv.version if inv else None,
            node=node.name, provider=node.provider, verified=True, run_id=run.id,
            data={"provider_id": ref.id, "provider_type": provider.type_name, "vm": node.vm,
                  "name": ref.name, "role": node.role, "reason": reason,
                  "expires": iso(expires), "state": str(ref.state)},
        )
        env.catalog.add_restore_point(rp)
    except CatalogError as exc:
        # The snapshot exists but the catalog does not know it: say where it is.
        raise CatalogError(f"snapshot {ref.id} of {node.name} was taken at {node.provider} "
                           f"but not recorded: {exc}") from exc
    log.info("snapshot %s of %s: provider id %s", rp.id, node.name, ref.id)
    return rp


def check_config(env: Env, deployment: Deployment, nodes: list[Node]) -> None:
    """Configuration errors (a node without provider or vm, an unknown provider or type, a
    missing secret) before any run: exit 2 with one line, not a run failing node by node."""
    from providers import registry

    for node in nodes:
        if not node.provider or not node.vm:
            raise ConfigError(f"deployments.{deployment.name}.nodes.{node.name}: "
                              "needs provider and vm to be snapshotted")
        if node.provider not in env.config.providers:
            known = ", ".join(sorted(env.config.providers)) or "none"
            raise ConfigError(f"no provider named {node.provider!r} (configured: {known})")
        pc = env.config.providers[node.provider]
        with provider_errors(f"provider {node.provider}"):
            registry.provider_class(pc.type)
        pc.resolved()


def refresh_inventory(env: Env, deployment: Deployment, run: Run, now: datetime) -> None:
    """Record the version running at snapshot time, and that the Management Node answered.

    The answer matters to a later plan: a restore point newer than the last contact is left
    out of it (a VM snapshot taken after the Management Node went down holds the broken
    state). When the Management Node does not answer, the snapshots are taken all the same
    (that may be why they are wanted) and this item says so.
    """
    from backup_agent.jobs import inventory

    try:
        inventory.refresh(env, deployment, run, now)
        env.catalog.record_contact(deployment.name, env.clock())
    except AgentError as exc:
        run.item("inventory", "skipped", f"version from the last inventory: {exc}")


def take(env: Env, deployment: Deployment, nodes: list[Node], reason: str,
         parallel: int = 5) -> Run:
    """Snapshot ``nodes`` in parallel (at most ``parallel`` at once), one run item each.

    The run exists for the snapshots: when none is taken it failed, whatever the inventory
    refresh did.
    """
    names = [node.name for node in nodes]
    # The Management Node is optional here (its refresh is skipped when it cannot be reached):
    # its credentials are not pre-checked, the providers' settings and secrets are.
    with frame(env, deployment, "snapshot", names, purpose=names, needs_api=False,
               check=lambda: check_config(env, deployment, nodes)) as run:
        now = run.started_at
        refresh_inventory(env, deployment, run, now)
        taken = run_parallel(run, [(node.name, partial(snapshot_node, env, deployment, node,
                                                       reason, run, now)) for node in nodes],
                             parallel)
        for node in nodes:
            if (rp := taken.get(node.name)) is not None:
                run.summary.setdefault("snapshots", []).append(
                    {"id": rp.id, "node": node.name, "provider_id": rp.data["provider_id"]})
    return run


def find(env: Env, rp_id: str) -> RestorePoint:
    rp = env.catalog.restore_point(rp_id)
    if rp.kind != "snapshot":
        raise ConfigError(f"{rp_id} is a {rp.kind}, not a snapshot")
    return rp


def delete(env: Env, rp_id: str, dry_run: bool = False) -> dict[str, Any]:
    """Delete a snapshot at its provider and mark it deleted in the catalog."""
    from providers.base import NotFound

    rp = find(env, rp_id)
    result = {"id": rp.id, "provider": rp.provider, "provider_id": rp.data.get("provider_id"),
              "dry_run": dry_run, "deleted": False, "already_gone": False}
    provider = open_provider(env, str(rp.provider))
    with provider_errors(f"snapshot {rp.id} ({rp.provider})"):
        try:
            _ours(rp, provider.get(rp.data["provider_id"]))
        except NotFound:
            result["already_gone"] = True
        if dry_run:
            return result
        if not result["already_gone"]:
            provider.delete(rp.data["provider_id"])
    env.catalog.mark_deleted(rp.id, env.clock())
    result["deleted"] = True
    return result


def revert(env: Env, rp_id: str) -> dict[str, Any]:
    """Revert the snapshot's VM to it."""
    rp = find(env, rp_id)
    provider = open_provider(env, str(rp.provider))
    with provider_errors(f"revert of {rp.node} to {rp.id} ({rp.provider})"):
        _ours(rp, provider.get(rp.data["provider_id"]))
        provider.revert(rp.data["provider_id"])
    return {"id": rp.id, "node": rp.node, "provider_id": rp.data["provider_id"], "reverted": True}


def _ours(rp: RestorePoint, ref: Any) -> None:
    """Refuse a snapshot without the agent's tag: provider ids are unique per endpoint only,
    so after a provider's settings change the catalog's id may name someone else's snapshot."""
    from providers.base import MANAGED_TAG

    if ref.tags.get(MANAGED_TAG) != "true":
        raise ProviderError(f"snapshot {rp.id}: {rp.provider} id {ref.id} is a snapshot not made by "
                            f"backup-agent (no {MANAGED_TAG} tag); does [providers.{rp.provider}] still "
                            "point where it was taken? Left untouched")


def probe(env: Env, rp: RestorePoint) -> bool | None:
    """Whether a snapshot still exists at its provider (None when the provider cannot say)."""
    from providers.base import NotFound
    from providers.base import ProviderError as PError

    try:
        provider = open_provider(env, str(rp.provider))
        provider.get(rp.data["provider_id"])
        return True
    except NotFound:
        return False
    except (PError, ConfigError, ProviderError) as exc:
        log.warning("cannot check snapshot %s: %s", rp.id, exc)
        return None
