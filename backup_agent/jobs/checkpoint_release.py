"""``checkpoint release``: after a healthy upgrade, delete the checkpoint's snapshots.

Health first: the new version on every node (the target version when the checkpoint has
one, else any other release than the one before), every Conferencing Node in sync and in
contact, no unacknowledged critical alarm. A checkpoint whose upgrade has not happened (or is
not healthy) is refused, exit 4, unless ``force``. The backup and the export stay, under the
normal retention from then on (:func:`backup_agent.jobs.checkpoint.protected_ids`).
"""

from __future__ import annotations

import logging
from typing import Any

from backup_agent.catalog import RestorePoint, iso
from backup_agent.config import Deployment
from backup_agent.errors import AgentError, ApiError, CatalogError, NotReadyError, ProviderError
from backup_agent.jobs import probe, snapshots
from backup_agent.jobs.checkpoint import find, protected_ids
from backup_agent.jobs.env import Env
from backup_agent.planner.version import Version

log = logging.getLogger(__name__)


def upgrade_problems(env: Env, deployment: Deployment, rp: RestorePoint) -> list[str]:
    """Why the upgrade the checkpoint was taken for is not (yet) done and healthy; [] if it is."""
    try:
        live = probe.read(env.client(deployment), env.clock())
    except ApiError as exc:
        return [f"the Management Node does not answer: {exc}"]
    before = Version.parse(rp.data.get("version_before"))
    target = Version.parse(rp.data.get("target_version"))
    problems = []
    for node in [*live.managers, *live.workers]:
        running = Version.parse(str(node.get("version") or ""))
        name = node.get("name")
        if running is None:
            problems.append(f"{name}: version {node.get('version')!r} unreadable")
        elif target is not None and not running.same_release(target):
            problems.append(f"{name} runs {running}, not the target {target}")
        elif target is None and before is not None and running.same_release(before):
            problems.append(f"{name} still runs {running}, the version before the upgrade")
    problems += [f"{name}: {h.why or h.status}" for name, h in sorted(live.health.items())
                 if h.status != "up"]
    problems += [f"critical alarm {a.get('name')} on {live.node_of(a.get('node'))}"
                 for a in live.alarms
                 if str(a.get("level") or "").lower() == "critical" and not a.get("acknowledged")]
    return problems


def release(env: Env, ckpt_id: str, dry_run: bool = False, force: bool = False) -> dict[str, Any]:
    """Check health, then delete the checkpoint's snapshots (``dry_run``: say which)."""
    rp = find(env, ckpt_id)
    deployment = env.config.deployment(rp.deployment)
    out: dict[str, Any] = {"id": rp.id, "deployment": rp.deployment, "dry_run": dry_run,
                           "forced": force, "deleted": [], "would_delete": [], "errors": []}
    if rp.data.get("released_at"):
        out["already_released_at"] = rp.data["released_at"]
        return out
    problems = upgrade_problems(env, deployment, rp)
    out["health"] = problems
    if problems and not force:
        raise NotReadyError(f"checkpoint {rp.id} not released: {'; '.join(problems)} "
                            "(the upgrade has not happened or is not healthy; --force releases "
                            "anyway)")
    for part in rp.data.get("parts", []):
        if part.get("kind") != "snapshot":
            continue
        try:
            result = snapshots.delete(env, str(part["id"]), dry_run=dry_run)
        except CatalogError:
            continue  # deleted already (by `snapshot delete`): nothing left to release
        except AgentError as exc:
            log.error("checkpoint %s: deleting %s failed: %s", rp.id, part["id"], exc)
            out["errors"].append(f"{part['id']}: {exc}")
            continue
        out["would_delete" if dry_run else "deleted"].append(
            {"id": result["id"], "node": part.get("node"), "provider_id": result["provider_id"],
             "already_gone": result["already_gone"]})
    if not dry_run and not out["errors"]:
        env.catalog.update_data(rp.id, released_at=iso(env.clock()), released_forced=force)
        still = protected_ids(env.catalog, rp.deployment)  # a part an older checkpoint shares
        for part in rp.data.get("parts", []):
            if part["id"] not in still and part.get("kind") != "snapshot":
                env.catalog.update_data(str(part["id"]), released=True)
        log.info("checkpoint %s released: %d snapshot(s) deleted%s", rp.id, len(out["deleted"]),
                 " (forced)" if force else "")
    if out["errors"]:
        raise ProviderError(f"checkpoint {rp.id}: not released: {'; '.join(out['errors'])}")
    return out
