"""Orphans: stored files the catalog does not know.

A crash between writing a file and recording its restore point (SIGKILL, power loss) leaves
a complete-looking backup or ``rooms.json`` (full of PINs) that no restore point vouches for
and no retention will ever prune. :func:`find` lists them; :func:`sweep` removes them and is
run by every backup, export and harvest of the deployment, under the deployment's run lock,
so no run of it can be between writing and recording while it looks.
"""

from __future__ import annotations

import logging

from backup_agent.errors import AgentError
from backup_agent.jobs.env import Env
from backup_agent.store.base import ObjectInfo

log = logging.getLogger(__name__)


def find(env: Env, deployment: str) -> list[ObjectInfo]:
    """The visible objects under ``deployment``'s prefix that no live restore point lists."""
    known = {f.key for rp in env.catalog.restore_points(deployment) for f in rp.files}
    return [o for o in env.store.list(f"{deployment}/") if o.key not in known]


def sweep(env: Env, deployment: str) -> list[str]:
    """Remove ``deployment``'s orphans; the keys removed. Call only under its run lock."""
    removed = []
    for orphan in find(env, deployment):
        try:
            env.store.delete(orphan.key)
        except AgentError as exc:
            log.warning("%s: cannot remove orphan %s: %s", deployment, orphan.key, exc)
            continue
        log.warning("%s: removed %s (%d bytes): stored but never recorded in the catalog, "
                    "left by a run that ended between the two", deployment, orphan.key,
                    orphan.size)
        removed.append(orphan.key)
    return removed
