"""Verify: re-hash every stored file of the restore points against the catalog.

What ``backup-agent verify`` and, later, the daemon's scheduled verify call. It works in the
job environment (:class:`~backup_agent.jobs.env.Env`) the other commands use, so it reads the
catalog and the store through the same objects, and records each restore point's state in
the catalog: ``verified`` false and ``verify_failed`` (when and why) for one that fails, so
``list`` and the planner see it; a point that passes again is verified again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from backup_agent.catalog import RestorePoint, iso
from backup_agent.errors import AgentError
from backup_agent.jobs.env import Env

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verified:
    """The check of one restore point: ``problems`` empty when every file is whole."""

    id: str
    kind: str
    deployment: str
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "deployment": self.deployment, "ok": self.ok,
                "problems": list(self.problems)}


def verify(env: Env, deployment: str | None = None) -> list[Verified]:
    """Check every live restore point (of ``deployment``, else all), newest first.

    An unknown deployment name is an error (``Config.deployment`` says which exist), not
    "0 of 0 verified".
    """
    if deployment is not None:
        env.config.deployment(deployment)
    return [verify_point(env, rp) for rp in env.catalog.restore_points(deployment)]


def verify_point(env: Env, rp: RestorePoint) -> Verified:
    """Re-hash ``rp``'s files; record a change of state, and every failure with its reasons.

    A checkpoint has no files: its ``verified`` is its readiness (its parts are checked each
    as a restore point of its own), which no re-hash changes. Nor has a point whose local
    bytes retention removed (``local_bytes_removed``), kept for its off-site copies.
    """
    if rp.kind == "checkpoint" or rp.data.get("local_bytes_removed"):
        # Its local bytes were removed by retention on purpose: its copies are checked by
        # ``verify --store``.
        return Verified(rp.id, rp.kind, rp.deployment)
    problems = tuple(f"{f.name}: {p}" for f in rp.files if (p := _check(env, f.key, f.size,
                                                                        f.sha256)))
    if problems:
        log.warning("restore point %s failed verify: %s", rp.id, "; ".join(problems))
        env.catalog.update_data(rp.id, verify_failed={"at": iso(env.clock()),
                                                      "problems": list(problems)})
    elif rp.data.get("verify_failed"):
        env.catalog.update_data(rp.id, verify_failed=None)
    if bool(problems) == rp.verified:  # write only a change of state
        env.catalog.set_verified(rp.id, not problems)
    return Verified(rp.id, rp.kind, rp.deployment, problems)


def _check(env: Env, key: str, size: int, sha256: str) -> str | None:
    """The store's verdict on one file; an unsafe key in a catalog row is a problem of that
    restore point, reported, and the verify goes on to the next."""
    try:
        return env.store.check(key, size, sha256)
    except AgentError as exc:
        return str(exc)
