"""``catalog rebuild --from STORE``: the catalog of a new host, from an off-site store alone.

Each manifest found under the copy's prefix becomes a restore point (unverified locally: its
bytes are off-site) with its copies recorded, so that ``list``, ``plan``, ``restore`` and
``drill`` work from the copy. A restore point already in the catalog is left as it is.
Sealed manifest fields (node, provider, data) are read only when the identity is configured.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from backup_agent.catalog import CopyRecord
from backup_agent.errors import AgentError, CatalogError
from backup_agent.jobs import manifest
from backup_agent.jobs.env import Env
from backup_agent.store import Store, hash_stream
from backup_agent.store.layout import MANIFEST, is_manifest

log = logging.getLogger(__name__)


def rebuild(env: Env, store_name: str, remote: Store) -> dict[str, Any]:
    """Add every restore point the store describes; what was added, kept and unreadable."""
    enc = env.config.encryption
    can_unseal = bool(enc and enc.identity_file)
    added, kept, bad = [], [], []
    for info in remote.list():
        if not is_manifest(info.key):
            continue
        try:
            with remote.open(info.key) as fh:
                raw = fh.read()
            rp, files = manifest.parse(raw, remote.location(info.key), enc, can_unseal)
        except AgentError as exc:
            bad.append({"key": info.key, "problem": str(exc)})
            continue
        try:
            env.catalog.restore_point(rp.id)
            kept.append(rp.id)
            continue
        except CatalogError:
            pass
        env.catalog.add_restore_point(rp)
        size, sha = hash_stream(io.BytesIO(raw))
        now = env.clock()
        for f in files:
            env.catalog.add_copy(CopyRecord(rp.id, store_name, f["name"], f["key"], f["sha256"],
                                            int(f["size"]), f["source_sha256"],
                                            bool(f["encrypted"]), info.mtime))
        env.catalog.add_copy(CopyRecord(rp.id, store_name, MANIFEST, info.key, sha, size, sha,
                                        False, info.mtime, verified=True, checked_at=now))
        added.append(rp.id)
    log.info("catalog rebuild from %s: %d added, %d already known, %d unreadable",
             store_name, len(added), len(kept), len(bad))
    return {"store": store_name, "added": added, "kept": kept, "unreadable": bad}
