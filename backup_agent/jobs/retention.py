"""The retention job: decide with the pure policy, then remove bytes and rows in one run.

Removal order makes a crash harmless: the restore point is first marked as being removed by
this run (still whole), then hidden from the catalog, then its bytes are deleted through the
store (or its snapshot through its provider), then marked gone. A crash before the row is
hidden leaves the point; after, it leaves nothing visible, and the next run sweeps the bytes a
hidden row still names. Never a row without its bytes.

A restore point with a complete copy in a configured ``[[storage.copies]]`` store keeps its row
when its local bytes go (``local_removed_by``): it is still a restore point, served from the
copy, until the copies' own retention (:mod:`backup_agent.jobs.copy_retention`) removes the
last of them in the same run or a later one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from backup_agent.catalog import RestorePoint, Run, RunPruning, iso, parse_iso
from backup_agent.config import Deployment
from backup_agent.errors import AgentError
from backup_agent.jobs.env import Env, provider_errors
from backup_agent.jobs.runner import frame
from backup_agent.retention import KINDS, Point, Result, apply, keep_unexpired

if TYPE_CHECKING:
    from backup_agent.offsite_config import CopyConfig
    from backup_agent.store import Store

log = logging.getLogger(__name__)


@dataclass
class Decision:
    rp: RestorePoint
    keep: bool
    reasons: list[str]
    policy: str
    store: str | None = None  # None: the local store; else the [[storage.copies]] name
    locked_until: datetime | None = None  # an Object Lock keeps it (the rules would remove it)

    def to_dict(self) -> dict[str, Any]:
        out = {"id": self.rp.id, "kind": self.rp.kind, "taken_at": iso(self.rp.taken_at),
               "action": "keep" if self.keep else "remove", "reasons": self.reasons,
               "policy": self.policy, "pinned": bool(self.rp.data.get("pinned")),
               "store": self.store or "local"}
        if self.locked_until is not None:
            out["locked_until"] = iso(self.locked_until)
        return out


def point_of(rp: RestorePoint) -> Point:
    expires = rp.data.get("expires") if rp.kind == "snapshot" else None
    checkpoint = rp.data.get("checkpoint") if not rp.data.get("released") else None
    return Point(id=rp.id, kind=rp.kind, taken_at=rp.taken_at, verified=rp.verified,
                 pinned=bool(rp.data.get("pinned")), checkpoint=checkpoint,
                 expires=parse_iso(expires) if isinstance(expires, str) else None)


def decide(env: Env, deployment: Deployment, now: datetime) -> list[Decision]:
    """Every live restore point of ``deployment`` with keep/remove and why (newest first)."""
    settings = env.config.service.retention
    out: list[Decision] = []
    for kind in KINDS:
        # Points whose local bytes retention already removed are the copies' business now.
        rps = [rp for rp in env.catalog.restore_points(deployment.name, kind)
               if not rp.data.get("local_removed_by")]
        if not rps:
            continue
        policy, source = settings.resolve(deployment.name, kind)
        if not settings.configured:
            result = Result(keep=[point_of(rp) for rp in rps],
                            reasons={rp.id: ["no [retention] configured"] for rp in rps})
        elif policy is None:
            result = keep_unexpired([point_of(rp) for rp in rps], now)
        else:
            result = apply([point_of(rp) for rp in rps], policy, now)
        kept = {p.id for p in result.keep}
        out += [Decision(rp, rp.id in kept, result.reasons[rp.id], source) for rp in rps]
    return out


def configured(env: Env) -> bool:
    """Whether any retention is written: ``[retention]`` or a copy's own ``retention``."""
    return env.config.prunes


def prune(env: Env, deployment: Deployment, dry_run: bool = False,
          open_remote: Callable[[CopyConfig], Store] | None = None,
          ) -> tuple[list[Decision], Run | None]:
    """Decide, and unless ``dry_run`` remove what the policies do not keep, as one run: the
    local store's points first, then each copy store's by its own policy.

    The run is in the run frame: it holds the deployment's lock (no backup or export of it
    meanwhile) and ends with an outcome from its items, interrupted or not. It needs no
    Management Node. A copy an Object Lock keeps is a skipped item ("locked until DATE").
    """
    from backup_agent.jobs import copy_retention

    now = env.clock()
    decisions = decide(env, deployment, now)
    doomed = [d.rp for d in decisions if not d.keep]
    plan = copy_retention.Plan(env, deployment, now, {rp.id for rp in doomed}, open_remote)
    if dry_run or not configured(env):
        return decisions + plan.decisions, None
    with frame(env, deployment, "retention", ["plan", *(rp.id for rp in doomed), *plan.items, "runs"],
               needs_api=False) as run:
        run.item("plan", "ok")
        for rp in doomed:
            _remove_item(env, run, rp)
        _sweep(env, deployment.name, run)
        plan.apply(run)
        _prune_runs_item(env, deployment, run)
        run.summary.update(kept=sum(d.keep for d in decisions),
                           removed=[rp.id for rp in doomed if run.items[rp.id][0] == "ok"],
                           copies_removed=plan.removed)
    return decisions + plan.decisions, run


def prune_runs(env: Env, deployment: Deployment, dry_run: bool = False) -> RunPruning:
    """Prune the deployment's run history by ``[retention.runs]`` (see retention/runs.py)."""
    policy = env.config.service.retention.runs
    return env.catalog.prune_runs(deployment.name, policy.cutoff(env.clock()), policy.keep_last,
                                  dry_run=dry_run)


def _prune_runs_item(env: Env, deployment: Deployment, run: Run) -> None:
    try:
        pruned = prune_runs(env, deployment)
    except AgentError as exc:  # the restore points are done: the history waits for next time
        run.item("runs", "failed", str(exc))
        return
    run.item("runs", "ok")
    run.summary["runs"] = pruned.to_dict()
    log.info("retention %s: removed %d of %d runs", deployment.name, pruned.removed, pruned.total)


def _remove_item(env: Env, run: Run, rp: RestorePoint) -> None:
    try:
        remove(env, rp, run.id)
        run.item(rp.id, "ok")
        log.info("retention %s: removed %s (%s)", rp.deployment, rp.id, rp.kind)
    except AgentError as exc:
        log.error("retention %s: cannot remove %s: %s", rp.deployment, rp.id, exc)
        run.item(rp.id, "failed", str(exc))


def remove(env: Env, rp: RestorePoint, run_id: str) -> None:
    """Remove one restore point: hide the row, then delete what it names (see the module doc).
    With a complete off-site copy, only its local bytes go and the row stays."""
    from backup_agent.jobs.copy_retention import held_by

    if rp.kind != "snapshot" and held_by(env, rp):
        env.catalog.update_data(rp.id, local_removed_by=run_id)
        _delete_bytes(env, rp)
        env.catalog.update_data(rp.id, local_bytes_removed=True)
        return
    env.catalog.update_data(rp.id, removed_by=run_id)
    env.catalog.mark_deleted(rp.id, env.clock())
    _delete_bytes(env, rp)
    env.catalog.update_data(rp.id, bytes_removed=True)


def _delete_bytes(env: Env, rp: RestorePoint) -> None:
    if rp.kind == "snapshot":
        _delete_snapshot(env, rp)
        return
    for f in rp.files:
        env.store.delete(f.key)


def _delete_snapshot(env: Env, rp: RestorePoint) -> None:
    from backup_agent.errors import ProviderError
    from providers.base import MANAGED_TAG, NotFound

    provider = env.provider(str(rp.provider))
    with provider_errors(f"snapshot {rp.id} ({rp.provider})"):
        try:
            ref = provider.get(rp.data["provider_id"])
        except NotFound:
            return
        if ref.tags.get(MANAGED_TAG) != "true":
            raise ProviderError(f"snapshot {rp.id}: {rp.provider} id {ref.id} has no {MANAGED_TAG} "
                                "tag: not made by backup-agent, left untouched")
        provider.delete(rp.data["provider_id"])


def _sweep(env: Env, deployment: str, run: Run) -> None:
    """Finish removals an earlier run began and did not end (a crash after hiding the row, or
    after marking the local bytes of a copied point as going)."""
    # (the points, what marks a removal begun, what marks its bytes gone)
    for points, begun, done in ((env.catalog.restore_points(deployment), "local_removed_by",
                                 "local_bytes_removed"),
                                (env.catalog.restore_points(deployment, deleted=True),
                                 "removed_by", "bytes_removed")):
        for rp in points:
            if not rp.data.get(begun) or rp.data.get(done):
                continue
            try:
                _delete_bytes(env, rp)
                env.catalog.update_data(rp.id, **{done: True})
                run.item(f"sweep {rp.id}", "ok")
            except AgentError as exc:
                run.item(f"sweep {rp.id}", "failed", str(exc))
