"""Retention of off-site copies: each ``[[storage.copies]]`` store by its own policy.

Each store's restore points (those with a complete copy there: its manifest recorded) are
decided by the pure :func:`backup_agent.retention.apply` under the copy's ``retention`` table,
or the main policy when it has none (:meth:`RetentionSettings.resolve_copy`). Then two rules
the policy cannot see:

* the last verified copy of a restore point whose local bytes are gone is kept, unless the
  copy's retention says ``remove_last_copy = true`` (stores are decided in order, so two
  stores never both remove the last two copies of a point in one run);
* an object an S3 Object Lock still retains (its ``retain-until`` date, by HEAD) is kept and
  reported "locked until DATE", a skipped item that does not fail the run.

A removal deletes the manifest first (the store stops describing the point), then the files,
then forgets the copies and records it in the restore point's ``copies_removed``. A point
left with neither local bytes nor copies is removed from the catalog.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from backup_agent.catalog import CopyRecord, RestorePoint, Run, iso
from backup_agent.config import Deployment
from backup_agent.errors import AgentError, ObjectLocked, StoreError
from backup_agent.jobs.env import Env
from backup_agent.jobs.fetch import missing
from backup_agent.jobs.retention import Decision, point_of
from backup_agent.offsite_config import CopyConfig
from backup_agent.retention import KINDS, Result, apply, keep_unexpired
from backup_agent.store import Store, open_copy_store
from backup_agent.store.layout import MANIFEST

LAST_COPY = "last verified copy, local bytes gone (remove_last_copy = false)"


def held_by(env: Env, rp: RestorePoint) -> list[str]:
    """The configured copy stores holding a complete copy of ``rp`` (its manifest recorded)."""
    configured = {c.name for c in env.config.copies}
    return sorted({c.store for c in env.catalog.copies(rp_id=rp.id)
                   if c.name == MANIFEST and c.store in configured})


def _verified(copies: list[CopyRecord]) -> bool:
    return all(c.verified is not False for c in copies)


class Plan:
    """The copies' decisions for one deployment at ``now`` (locks read), then their removal.

    ``local_doomed``: points the local policy removes in this run (their bytes count as gone).
    """

    def __init__(self, env: Env, deployment: Deployment, now: datetime, local_doomed: set[str],
                 open_remote: Callable[[CopyConfig], Store] | None = None) -> None:
        self.env, self.now = env, now
        self.open_remote = open_remote or open_copy_store
        self.points = {rp.id: rp for rp in env.catalog.restore_points(deployment.name)}
        # Only configured stores count: one taken out of agent.toml is no copy the agent can use.
        configured = {c.name for c in env.config.copies}
        self.held: dict[str, dict[str, list[CopyRecord]]] = {}
        for c in env.catalog.copies():
            if c.restore_point_id in self.points and c.store in configured:
                self.held.setdefault(c.store, {}).setdefault(c.restore_point_id, []).append(c)
        for store, by_rp in self.held.items():
            self.held[store] = {k: v for k, v in by_rp.items() if any(c.name == MANIFEST for c in v)}
        self.local_gone = {i for i, rp in self.points.items()
                           if rp.data.get("local_removed_by") or i in local_doomed
                           or (any(i in h for h in self.held.values()) and missing(env, rp))}
        self.remotes: dict[str, Store | str] = {}  # a store, or why it cannot be opened
        self.removed: dict[str, list[str]] = {}
        self.decisions: list[Decision] = []
        self._going: dict[str, set[str]] = {}
        for target in env.config.copies:
            self._decide(deployment.name, target)

    @property
    def items(self) -> list[str]:
        """The run items: one per copy removed or kept by a lock."""
        return [f"{d.store}:{d.rp.id}" for d in self.decisions
                if not d.keep or d.locked_until is not None]

    # -- deciding ---------------------------------------------------------------------------
    def _decide(self, deployment: str, target: CopyConfig) -> None:
        settings = self.env.config.service.retention
        held = self.held.get(target.name, {})
        for kind in KINDS:
            rps = sorted((rp for rp in self.points.values() if rp.kind == kind and rp.id in held),
                         key=lambda rp: (rp.taken_at, rp.id), reverse=True)
            if not rps:
                continue
            policy, source = settings.resolve_copy(target.name, target.retention, deployment, kind)
            points = [replace(point_of(rp), verified=_verified(held[rp.id])) for rp in rps]
            if policy is not None:
                result = apply(points, policy, self.now)
            elif target.retention is None and not settings.configured:
                result = Result(keep=points, reasons={p.id: ["no retention configured"] for p in points})
            else:
                result = keep_unexpired(points, self.now)
            kept = {p.id for p in result.keep}
            for rp in rps:
                decision = Decision(rp, rp.id in kept, result.reasons[rp.id], source, target.name)
                if not decision.keep:
                    self._protect(decision, target, held[rp.id])
                if not decision.keep:
                    self._going.setdefault(rp.id, set()).add(target.name)
                self.decisions.append(decision)

    def _protect(self, d: Decision, target: CopyConfig, copies: list[CopyRecord]) -> None:
        """Keep ``d`` when it is the last verified copy of a point gone locally, or locked."""
        others = [s for s, by_rp in self.held.items() if s != target.name and d.rp.id in by_rp
                  and _verified(by_rp[d.rp.id]) and s not in self._going.get(d.rp.id, set())]
        if (d.rp.id in self.local_gone and _verified(copies) and not others
                and not target.remove_last_copy):
            d.keep, d.reasons = True, [LAST_COPY]
            return
        remote = self.remote(target)
        if isinstance(remote, str):
            d.reasons = [*d.reasons, f"lock not checked: {remote}"]
            return
        try:
            until = self._locked_until(remote, copies)
        except AgentError as exc:  # the delete will say whether the store allows it
            d.reasons = [*d.reasons, f"lock not checked: {exc}"]
            return
        if until is not None and until > self.now:
            d.keep, d.locked_until, d.reasons = True, until, [f"locked until {until:%Y-%m-%d}"]

    def remote(self, target: CopyConfig) -> Store | str:
        if target.name not in self.remotes:
            try:
                self.remotes[target.name] = self.open_remote(target)
            except AgentError as exc:
                self.remotes[target.name] = str(exc)
        return self.remotes[target.name]

    @staticmethod
    def _locked_until(remote: Store, copies: list[CopyRecord]) -> datetime | None:
        retained = getattr(remote, "retained_until", None)
        if retained is None:  # a store without Object Lock (Azure Blob, GCS here)
            return None
        dates = [d for c in copies if (d := retained(c.key)) is not None]
        return max(dates, default=None)

    # -- removing ---------------------------------------------------------------------------
    def apply(self, run: Run) -> None:
        """Remove what was decided; one run item per copy removed, failed or kept by a lock."""
        targets = {c.name: c for c in self.env.config.copies}
        for d in self.decisions:
            item = f"{d.store}:{d.rp.id}"
            if d.locked_until is not None:
                run.item(item, "skipped", f"locked until {d.locked_until:%Y-%m-%d}")
                continue
            if d.keep or d.store is None:
                continue
            try:
                self._remove(d, targets[d.store], run.id)
                run.item(item, "ok")
                self.removed.setdefault(d.store, []).append(d.rp.id)
            except ObjectLocked as exc:
                run.item(item, "skipped", str(exc))
            except AgentError as exc:
                run.item(item, "failed", str(exc))

    def _remove(self, d: Decision, target: CopyConfig, run_id: str) -> None:
        remote = self.remote(target)
        if isinstance(remote, str):
            raise StoreError(remote)
        copies = sorted(self.held[target.name][d.rp.id], key=lambda c: c.name != MANIFEST)
        for c in copies:  # the manifest first: the store stops offering the point
            remote.delete(c.key)
        self.env.catalog.remove_copies(d.rp.id, target.name)
        rp = self.env.catalog.restore_point(d.rp.id)
        removed = {**(rp.data.get("copies_removed") or {}),
                   target.name: {"at": iso(self.now), "run": run_id}}
        self.env.catalog.update_data(rp.id, copies_removed=removed)
        gone = bool(rp.data.get("local_removed_by")) or bool(missing(self.env, rp))
        if gone and not self.env.catalog.copies(rp_id=rp.id):
            self.env.catalog.update_data(rp.id, removed_by=run_id, bytes_removed=True)
            self.env.catalog.mark_deleted(rp.id, self.now)


def copies_view(env: Env, rps: list[RestorePoint]) -> dict[str, list[dict[str, Any]]]:
    """Per restore point, its off-site copies as ``list`` and ``status`` show them: the store,
    whether it is complete and verified, and the lock's end when the store locks objects.

    The lock's end is the copy's upload time plus ``object_lock.days`` (what was asked at
    upload; no request is made: ``prune`` reads the real date by HEAD before it deletes).
    """
    wanted = {rp.id for rp in rps}
    targets = {c.name: c for c in env.config.copies}
    now = env.clock()
    by_rp: dict[str, dict[str, list[CopyRecord]]] = {}
    for c in env.catalog.copies():
        if c.restore_point_id in wanted:
            by_rp.setdefault(c.restore_point_id, {}).setdefault(c.store, []).append(c)
    out: dict[str, list[dict[str, Any]]] = {}
    for rp_id, stores in by_rp.items():
        for store, copies in sorted(stores.items()):
            target = targets.get(store)
            until = None
            if target is not None and target.lock_days:
                until = max(c.copied_at for c in copies) + timedelta(days=target.lock_days)
            out.setdefault(rp_id, []).append({
                "store": store, "complete": any(c.name == MANIFEST for c in copies),
                "verified": _verified(copies), "objects": len(copies),
                "locked_until": iso(until) if until and until > now else None})
    return out


def copies_text(copies: list[dict[str, Any]]) -> str:
    """``offsite-s3 (locked until 2027-01-01), offsite-gcs``, or ``-``."""
    parts = []
    for c in copies:
        notes = [] if c["complete"] else ["incomplete"]
        notes += [] if c["verified"] else ["FAILED verify"]
        notes += [f"locked until {c['locked_until'][:10]}"] if c["locked_until"] else []
        parts.append(c["store"] + (f" ({', '.join(notes)})" if notes else ""))
    return ", ".join(parts) or "-"
