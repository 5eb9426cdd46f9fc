"""Restore points whose local bytes are gone, served from an off-site copy.

:func:`offsite_source` tells the planner's evidence which copy store can stand in for a
restore point's missing local files (and how many bytes a download is); :func:`ensure_local`
brings them back into the local store before a restore, a drill or an inventory read uses
them, decrypting and checking each file against the size and sha256 the catalog recorded.
A copy whose last read-back failed is never used.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from backup_agent.catalog import CopyRecord, RestorePoint
from backup_agent.crypto import decrypt_stream
from backup_agent.errors import AgentError, IntegrityError
from backup_agent.jobs.env import Env
from backup_agent.store import open_copy_store
from backup_agent.store.base import CHUNK

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """A copy store holding every missing file of a restore point, last read back fine."""

    store: str
    copies: tuple[CopyRecord, ...]

    @property
    def size(self) -> int:
        return sum(c.size for c in self.copies)


def missing(env: Env, rp: RestorePoint) -> list[str]:
    """Names of the restore point's files the local store does not hold (at their size)."""
    out = []
    for f in rp.files:
        info = env.store.stat(f.key)
        if info is None or info.size != f.size:
            out.append(f.name)
    return out


def offsite_source(env: Env, rp: RestorePoint) -> Source | None:
    """The copy to fetch ``rp``'s missing files from; None when none is missing or no copy has them."""
    names = set(missing(env, rp))
    if not names:
        return None
    configured = {c.name for c in env.config.copies}
    by_store: dict[str, list[CopyRecord]] = {}
    for c in env.catalog.copies(rp_id=rp.id):
        if c.store in configured and c.name in names and c.verified is not False:
            by_store.setdefault(c.store, []).append(c)
    for store, copies in by_store.items():
        if {c.name for c in copies} == names:
            return Source(store, tuple(copies))
    return None


def ensure_local(env: Env, rp: RestorePoint) -> str | None:
    """Fetch ``rp``'s missing local files from a copy; the store's name, or None if not needed.

    A file that cannot be fetched (the copy is bad, the identity missing) is reported on the
    copy and leaves the local store as it was: the caller's own check then says what is missing.
    """
    source = offsite_source(env, rp)
    if source is None:
        return None
    remote = open_copy_store(env.config.copy(source.store))
    files = {f.name: f for f in rp.files}
    for copy in source.copies:
        f = files[copy.name]
        if env.store.stat(f.key) is not None:
            env.store.delete(f.key)  # a local file of the wrong size: replaced by the copy's
        try:
            with remote.open(copy.key) as src, env.store.writer(f.key) as sink:
                if copy.encrypted:
                    decrypt_stream(src, sink, env.config.encryption)
                else:
                    while chunk := src.read(CHUNK):
                        sink.write(chunk)
                sink.commit(expected_size=f.size, expected_sha256=f.sha256)
        except AgentError as exc:
            log.error("cannot fetch %s of %s from %s: %s", f.name, rp.id, source.store, exc)
            if isinstance(exc, IntegrityError):  # the copy is not what was copied
                env.catalog.set_copy_verified(rp.id, source.store, copy.name, False, env.clock())
            raise
    env.catalog.set_verified(rp.id, True)
    log.info("fetched %s from %s (%d bytes)", rp.id, source.store, source.size)
    return source.store
