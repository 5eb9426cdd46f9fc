"""Orphans: stored files the catalog does not know.

A crash between writing a file and recording its restore point (SIGKILL, power loss) leaves
a complete-looking backup or ``rooms.json`` (full of PINs) that no restore point vouches for
and no retention will ever prune. :func:`find` lists them; :func:`sweep` removes them and is
run by every backup, export and harvest of the deployment, under the deployment's run lock,
so no run of it can be between writing and recording while it looks. The hidden
temporaries of the local store (``.NAME.tmp-XXXXXXXX``, a write killed before its commit)
are swept with them and reported the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from backup_agent.errors import AgentError
from backup_agent.jobs.env import Env
from backup_agent.store.base import ObjectInfo

log = logging.getLogger(__name__)


def find(env: Env, deployment: str) -> list[ObjectInfo]:
    """The visible objects under ``deployment``'s prefix that no live restore point lists."""
    known = {f.key for rp in env.catalog.restore_points(deployment) for f in rp.files}
    return [o for o in env.store.list(f"{deployment}/") if o.key not in known]


def temporaries(env: Env, deployment: str) -> list[ObjectInfo]:
    """The hidden temporaries under ``deployment``'s prefix: writes killed before their commit
    (only a store that writes through temporaries has them: the local one)."""
    listing = getattr(env.store, "temporaries", None)
    return list(listing(f"{deployment}/")) if listing is not None else []


def sweep(env: Env, deployment: str) -> list[str]:
    """Remove ``deployment``'s orphans and hidden temporaries; the keys removed. Call only
    under its run lock (no run of it is writing)."""
    removed = []
    for orphan in find(env, deployment):
        if _removed(env, deployment, orphan, env.store.delete,
                    "stored but never recorded in the catalog, left by a run that ended "
                    "between the two"):
            removed.append(orphan.key)
    for temp in temporaries(env, deployment):
        if _removed(env, deployment, temp, env.store.remove_temporary,  # type: ignore[attr-defined]
                    "a hidden temporary of a write that never finished (the run was killed)"):
            removed.append(temp.key)
    return removed


def _removed(env: Env, deployment: str, obj: ObjectInfo, delete: Callable[[str], None],
             why: str) -> bool:
    try:
        delete(obj.key)
    except AgentError as exc:
        log.warning("%s: cannot remove %s: %s", deployment, obj.key, exc)
        return False
    log.warning("%s: removed %s (%d bytes): %s", deployment, obj.key, obj.size, why)
    return True
