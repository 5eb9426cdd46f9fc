"""The pre-upgrade checkpoint: one run, one answer — "ready to upgrade" or why not.

A checkpoint is ONE run of the run frame (:func:`backup_agent.jobs.runner.frame`) whose items
are the gates (``gate:NAME``, :mod:`backup_agent.jobs.checkpoint_gates`), the inventory, a
config backup, a room export, one ``snapshot:NODE`` per snapshot (in parallel within a bound),
``verify`` and ``checkpoint`` (the record). When a gate fails and is not waived nothing is
taken: the parts are skipped with the gate named, and the checkpoint is recorded not ready.

Snapshots: the Management Node whenever it is bound to a provider; a Conferencing Node only
with ``checkpoint_snapshot = true`` (Pexip redeploys Conferencing Nodes from the Management
Node rather than reverting them). Without a provider the config backup is the restore point.

The checkpoint is a restore point of kind ``checkpoint`` without files of its own: its data
holds the gates, the parts (restore-point ids), the version before the upgrade, the target
version, ``ready`` and the reasons. Retention asks :func:`protected_ids` what it must keep;
each part also carries ``checkpoint`` (the id) and ``released`` in its own data.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from backup_agent.catalog import Catalog, Kind, RestorePoint, Run, iso
from backup_agent.config import Deployment, Node
from backup_agent.errors import AgentError, AuthError, ConnectError, NotReadyError, UsageError
from backup_agent.jobs import backup, export, inventory, snapshots
from backup_agent.jobs.checkpoint_gates import GATES, Gate, judge
from backup_agent.jobs.env import Env, provider_errors
from backup_agent.jobs.runner import frame, run_parallel
from backup_agent.planner.version import Version

log = logging.getLogger(__name__)
JOB = "checkpoint"
REASON = "pre-upgrade checkpoint"
API_PARTS = ("inventory", "config-backup", "room-export")
CN_ADVICE = ("Conferencing Nodes are redeployed from the Management Node after a failed "
             "upgrade, not reverted (Pexip's advice)")


def snapshot_nodes(deployment: Deployment) -> list[Node]:
    """The nodes a checkpoint snapshots: the Management Node where it is bound to a provider,
    Conferencing Nodes only where ``checkpoint_snapshot = true``."""
    return [n for n in deployment.nodes
            if (n.role == "management" and n.provider and n.vm) or n.checkpoint_snapshot]


def _marker(env: Env, deployment: Deployment) -> Any:
    return env.config.storage_path / "locks" / f"checkpoint-{deployment.name}.running"


def create(env: Env, deployment: Deployment, target_version: str | None = None,
           waive: Iterable[str] = (), parallel: int = 5) -> Run:
    """Take a checkpoint of ``deployment``; its result is ``run.summary["checkpoint"]``."""
    waived = frozenset(waive)
    if unknown := sorted(waived - set(GATES)):
        raise UsageError(f"--waive {', '.join(unknown)}: no such gate (gates: {', '.join(GATES)})")
    if target_version is not None and Version.parse(target_version) is None:
        raise UsageError(f"--target-version {target_version!r} is not a version such as 39.1")
    nodes = snapshot_nodes(deployment)
    snaps = [f"snapshot:{n.name}" for n in nodes]
    items = [f"gate:{g}" for g in GATES] + list(API_PARTS) + snaps + ["verify", "checkpoint"]

    def check() -> None:
        backup.passphrase_of(deployment)
        snapshots.check_config(env, deployment, nodes)

    try:
        with frame(env, deployment, JOB, items, purpose=("config-backup", "room-export", *snaps),
                   check=check) as run:
            ckpt_id = env.catalog.new_id("ckpt", deployment.name, run.started_at)
            marker = _marker(env, deployment)
            marker.write_text(ckpt_id)
            try:
                _body(env, deployment, run, ckpt_id, nodes, target_version, waived, parallel)
            finally:
                with contextlib.suppress(OSError):
                    marker.unlink()
    except NotReadyError as exc:
        raise _refusal(env, deployment, exc) from exc
    return run


def _refusal(env: Env, deployment: Deployment, exc: NotReadyError) -> NotReadyError:
    """The lock is held: name the running checkpoint by its id when it is one."""
    if "checkpoint" not in str(exc):
        return exc
    try:
        running = _marker(env, deployment).read_text().strip()
    except OSError:
        return exc
    return NotReadyError(f"checkpoint {running} of {deployment.name} is already running; "
                         "wait for it (`backup-agent checkpoint show "
                         f"{running}` once it ends)")


def _body(env: Env, deployment: Deployment, run: Run, ckpt_id: str, nodes: list[Node],
          target: str | None, waived: frozenset[str], parallel: int) -> None:
    now = run.started_at
    gates, live = judge(env, deployment, nodes, now, waived)
    for gate in gates:
        run.item(f"gate:{gate.name}", "ok" if gate.passed else "skipped" if gate.waived else "failed",
                 f"waived: {gate.reason}" if gate.waived else gate.reason)
    parts: list[RestorePoint] = []
    blocked = [g.name for g in gates if not g.holds]
    if blocked:
        why = (f"not taken: gate(s) {', '.join(blocked)} failed "
               f"(waive with --waive {' --waive '.join(blocked)})")
        for name in [*API_PARTS, *(f"snapshot:{n.name}" for n in nodes), "verify"]:
            run.item(name, "skipped", why)
    else:
        parts += _api_parts(env, deployment, run, now)
        taken = run_parallel(run, [(f"snapshot:{n.name}", partial(
            snapshots.snapshot_node, env, deployment, n, REASON, run, now)) for n in nodes], parallel)
        parts += [taken[f"snapshot:{n.name}"] for n in nodes if f"snapshot:{n.name}" in taken]
        _verify(env, run, parts)
    before = _version_before(env, deployment, live)
    result = _record(env, deployment, run, ckpt_id, gates, parts, before, target, nodes)
    run.summary["checkpoint"] = result


def _api_parts(env: Env, deployment: Deployment, run: Run, now: datetime) -> list[RestorePoint]:
    """Inventory, config backup and room export in turn; a Management Node that stops
    answering fails its item and skips the rest (the snapshots are still taken)."""
    steps: list[tuple[str, Callable[[], RestorePoint | None]]] = [
        ("inventory", lambda: inventory.refresh(env, deployment, run, now)),
        ("config-backup", lambda: _backup(env, deployment, run, now)),
        ("room-export", lambda: _export(env, deployment, run, now)),
    ]
    out: list[RestorePoint] = []
    stop: str | None = None
    for name, step in steps:
        if stop:
            run.item(name, "skipped", stop)
            continue
        try:
            if (rp := step()) is not None:
                out.append(rp)
            env.catalog.record_contact(deployment.name, env.clock())
        except AgentError as exc:
            log.error("checkpoint %s: %s failed: %s", deployment.name, name, exc)
            run.item(name, "failed", str(exc))
            if isinstance(exc, ConnectError | AuthError):
                env.catalog.record_contact(deployment.name, env.clock(), error=str(exc))
                stop = f"not tried: {exc}"
    return out


def _backup(env: Env, deployment: Deployment, run: Run, now: datetime) -> RestorePoint:
    backup.config_backup(env, deployment, run, now)
    return env.catalog.restore_point(run.summary["config_backup"]["id"])


def _export(env: Env, deployment: Deployment, run: Run, now: datetime) -> RestorePoint:
    export.room_export(env, deployment, run, now)
    return env.catalog.restore_point(run.summary["room_export"]["id"])


def _verify(env: Env, run: Run, parts: list[RestorePoint]) -> None:
    """Every artifact re-hashed from the store, every snapshot read back from its provider."""
    from providers.base import MANAGED_TAG, SnapshotState

    bad: list[str] = []
    for rp in parts:
        if rp.kind is Kind.SNAPSHOT:
            try:
                with provider_errors(f"{rp.id} ({rp.provider})"):
                    ref = env.provider(str(rp.provider)).get(rp.data["provider_id"])
                ok = ref.state is SnapshotState.AVAILABLE and ref.tags.get(MANAGED_TAG) == "true"
                problem = f"{rp.id}: {ref.state} at {rp.provider}" if not ok else ""
            except AgentError as exc:
                ok, problem = False, f"{rp.id}: not read back: {exc}"
        else:
            broken = [f.name for f in rp.files if env.store.check(f.key, f.size, f.sha256)]
            ok, problem = not broken, f"{rp.id}: {', '.join(broken)} does not hash right"
            env.catalog.set_verified(rp.id, ok)
        rp.verified = ok
        if not ok:
            bad.append(problem)
    if bad:
        run.item("verify", "failed", "; ".join(bad))
    else:
        run.item("verify", "ok", f"{len(parts)} part(s) verified")


def _version_before(env: Env, deployment: Deployment, live: Any) -> Version | None:
    """What the Management Node runs now; when it does not answer, the last inventory's."""
    primary = next((m for m in (live.managers if live else []) if m.get("primary", True)), None)
    if primary is not None and (v := Version.parse(str(primary.get("version") or ""))):
        return v
    inv = env.catalog.latest(deployment.name, Kind.INVENTORY.value)
    return Version.parse(inv.version, inv.build) if inv else None


def _reasons(run: Run, gates: list[Gate]) -> list[str]:
    out = [f"gate {g.name} failed: {g.reason}" for g in gates if not g.holds]
    out += [f"{item}: {reason}" for item, reason in run.failures() if not item.startswith("gate:")]
    return out


def _advice(deployment: Deployment, nodes: list[Node], parts: list[RestorePoint]) -> list[str]:
    snapped = [n.name for n in nodes if n.role == "conferencing"]
    out = [CN_ADVICE + (f"; snapshotted as configured: {', '.join(snapped)}" if snapped
                        else "; none is snapshotted (checkpoint_snapshot = true opts one in)")]
    if not any(n.role == "management" for n in nodes):
        backup_id = next((p.id for p in parts if p.kind is Kind.CONFIG_BACKUP), None)
        out.append("the Management Node is bound to no snapshot provider: the config backup"
                   f"{f' {backup_id}' if backup_id else ''} is the restore point")
    return out


def _record(env: Env, deployment: Deployment, run: Run, ckpt_id: str, gates: list[Gate],
            parts: list[RestorePoint], before: Version | None, target: str | None,
            nodes: list[Node]) -> dict[str, Any]:
    reasons = _reasons(run, gates)
    ready = not reasons
    data = {"ready": ready, "reasons": reasons, "target_version": target,
            "version_before": str(before) if before else None,
            "gates": [g.to_dict() for g in gates],
            "waived": [g.name for g in gates if g.waived],
            "parts": [{"id": p.id, "kind": str(p.kind), "node": p.node, "verified": p.verified}
                      for p in parts],
            "advice": _advice(deployment, nodes, parts), "released_at": None}
    env.catalog.add_restore_point(RestorePoint(
        id=ckpt_id, kind=Kind.CHECKPOINT, deployment=deployment.name, taken_at=run.started_at,
        version=before.release_text if before else None, build=before.build if before else None,
        verified=ready, run_id=run.id, data=data))
    for part in parts:  # each part says whose it is: what retention reads (`released` after)
        env.catalog.update_data(part.id, checkpoint=ckpt_id, released=False)
    run.item("checkpoint", "ok", "ready" if ready else "not ready")
    log.info("checkpoint %s of %s: %s", ckpt_id, deployment.name, "ready" if ready else "not ready")
    return {"id": ckpt_id, "deployment": deployment.name, "run": run.id, **data}


# -- reading checkpoints -----------------------------------------------------------------------
def find(env: Env, ckpt_id: str) -> RestorePoint:
    """One checkpoint; CatalogError (exit 1) when there is none, UsageError when not one."""
    rp = env.catalog.restore_point(ckpt_id)
    if rp.kind is not Kind.CHECKPOINT:
        raise UsageError(f"{ckpt_id} is a {rp.kind}, not a checkpoint (see `checkpoint list`)")
    return rp


def view(rp: RestorePoint) -> dict[str, Any]:
    """A checkpoint as ``show`` and ``list`` give it."""
    return {"id": rp.id, "deployment": rp.deployment, "taken_at": iso(rp.taken_at),
            "run": rp.run_id, **{k: v for k, v in rp.data.items()}}


def protected_ids(catalog: Catalog, deployment: str | None = None) -> set[str]:
    """What retention must never delete: every unreleased checkpoint and each of its parts.

    After ``checkpoint release`` its backup and export follow the normal policy again.
    """
    out: set[str] = set()
    for rp in catalog.restore_points(deployment, Kind.CHECKPOINT.value):
        if not rp.data.get("released_at"):
            out.add(rp.id)
            out.update(str(p["id"]) for p in rp.data.get("parts", []))
    return out


def age_warnings(env: Env, deployment: Deployment, now: datetime) -> list[str]:
    """A warning for each unreleased checkpoint whose snapshots are older than the
    deployment's ``checkpoint_max_age_days``: VMs should not run on snapshots for long."""
    limit = timedelta(days=deployment.checkpoint_max_age_days)
    old = [rp for rp in env.catalog.restore_points(deployment.name, Kind.CHECKPOINT.value)
           if not rp.data.get("released_at") and now - rp.taken_at > limit]
    if not old:  # the usual case: no snapshot read (status reads this for every deployment)
        return []
    live = {rp.id for rp in env.catalog.restore_points(deployment.name, Kind.SNAPSHOT.value)}
    out = []
    for rp in old:
        snaps = [str(p["id"]) for p in rp.data.get("parts", [])
                 if p.get("kind") == "snapshot" and p["id"] in live]
        if not snaps:
            continue
        out.append(f"checkpoint {rp.id}: its snapshots ({', '.join(snaps)}) are "
                   f"{(now - rp.taken_at).days} days old (over {limit.days}): once the upgrade "
                   f"is healthy run `backup-agent checkpoint release {rp.id}`")
    return out
