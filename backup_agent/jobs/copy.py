"""The copy job: every verified restore point's files to each ``[[storage.copies]]`` store.

A file is copied once per store and recorded in the catalog with the stored object's hash;
one not yet recorded (never tried, or failed: an upload cut half-way leaves nothing visible
and nothing recorded) is tried again by the next run. Room exports, inventories and the other
agent-made files are age-encrypted on the way (config backups are already encrypted by the
Management Node); without ``[encryption]`` they are not copied off-site at all: a skipped
run item says so (and config load warns). After a restore point's files, its manifest
(:mod:`backup_agent.jobs.manifest`).
It runs in the run frame (:func:`backup_agent.jobs.runner.frame`: the deployment's lock,
interruption, outcome) without the Management Node, and retries an object by the one retry
policy (:mod:`providers.retry`) before it gives up on it for the run.
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections.abc import Callable
from typing import TypeVar

from backup_agent.catalog import CopyRecord, FileRecord, Kind, RestorePoint, Run
from backup_agent.config import Deployment
from backup_agent.crypto import SUFFIX, HashingReader, encrypt_stream
from backup_agent.errors import AgentError, ConfigError, StoreError, StoreUnavailable
from backup_agent.jobs import manifest
from backup_agent.jobs.env import Env
from backup_agent.jobs.runner import frame
from backup_agent.offsite_config import NOT_ENCRYPTED, CopyConfig, EncryptionConfig
from backup_agent.store import Store, hash_stream, open_copy_store
from backup_agent.store.base import CHUNK
from backup_agent.store.layout import MANIFEST, manifest_key
from providers.retry import Backoff

log = logging.getLogger(__name__)
# Whole-object attempts, on top of the SDK's own request retries: a link that drops now and then
# costs a part's re-send, not the night's copy. From the one retry policy.
RETRY = Backoff(retries=2, base=1.0, cap=10.0)
T = TypeVar("T")


def retrying(backoff: Backoff, what: str, attempt: Callable[[], T]) -> T:
    """``attempt()``, tried again after a pause on a transient StoreError (not a missing bucket,
    refused credentials or an object already there: those do not change by waiting)."""
    for n in itertools.count():
        try:
            return attempt()
        except StoreError as exc:
            if not transient(exc) or backoff.exhausted(n):
                raise
            log.warning("copy %s: %s; trying again", what, exc)
            backoff.pause(n)
    raise AssertionError("unreachable")


def transient(exc: StoreError) -> bool:
    """Whether waiting may help: not for a store refused as a whole, an object already there,
    or a file that is not there."""
    if isinstance(exc, StoreUnavailable):
        return exc.transient
    return not any(s in str(exc) for s in ("already exists", "no such object", "No such file"))


OpenStore = Callable[[CopyConfig], Store]
PLAIN_KINDS = {Kind.CONFIG_BACKUP}  # encrypted by the Management Node with the passphrase


def copy(env: Env, deployment: Deployment, store: str | None = None,
         open_remote: OpenStore = open_copy_store, backoff: Backoff = RETRY) -> Run:
    """One run of ``copy`` for ``deployment`` in the run frame (its lock, its interruption),
    over every copy store (or just ``store``). The Management Node is not needed."""
    cfg = env.config
    targets = [cfg.copy(store)] if store else list(cfg.copies)
    if not targets:
        raise ConfigError("no [[storage.copies]] store configured: nothing to copy to")

    def check() -> None:  # a missing store secret is a configuration error before any run
        for target in targets:
            for secret in target.secrets.values():
                secret.value()

    with frame(env, deployment, "copy", [t.name for t in targets], check=check,
               needs_api=False) as run:
        for target in targets:
            try:
                remote = open_remote(target)
            except AgentError as exc:
                run.item(target.name, "failed", str(exc))
                continue
            copy_to(env, deployment, run, target, remote, backoff)
    return run


def copy_to(env: Env, dep: Deployment, run: Run, target: CopyConfig, remote: Store,
            backoff: Backoff = RETRY) -> None:
    """Copy what ``target`` lacks; one run item per restore point tried, one for the store."""
    copied = failed = 0
    down: str | None = None  # why the store cannot be used for the rest of this run
    for rp in reversed(env.catalog.restore_points(dep.name)):  # oldest first
        if not rp.files or not rp.verified:
            continue
        done = {c.name for c in env.catalog.copies(target.name, rp.id)}
        item = f"{target.name}:{rp.id}"
        if MANIFEST in done or target.name in (rp.data.get("copies_removed") or {}):
            continue  # copied, or removed from this store by its retention: not sent again
        if rp.kind not in PLAIN_KINDS and env.config.encryption is None:
            run.item(item, "skipped", NOT_ENCRYPTED)
            continue
        if down:
            run.item(item, "failed", f"not tried: {down} (retried next run)")
            failed += 1
            continue
        try:
            copy_point(env, remote, target, rp, done, backoff)
            copied += 1
            run.item(item, "ok")
        except AgentError as exc:
            failed += 1
            log.error("copy %s to %s: %s", rp.id, target.name, exc)
            run.item(item, "failed", f"{exc} (retried next run)")
            if isinstance(exc, StoreUnavailable):
                down = str(exc)
    run.summary.setdefault("copied", {})[target.name] = copied
    if failed == 0:
        run.item(target.name, "ok" if copied else "unchanged",
                 None if copied else "nothing left to copy")


def copy_point(env: Env, remote: Store, target: CopyConfig, rp: RestorePoint,
               done: set[str], backoff: Backoff = RETRY) -> None:
    """Copy the files of ``rp`` not yet in ``done``, then its manifest; each recorded as it lands."""
    enc = env.config.encryption
    for f in rp.files:
        if f.name in done:
            continue
        encrypted = rp.kind not in PLAIN_KINDS
        key, sha, size = retrying(backoff, f"{rp.id} {f.name}",
                                  functools.partial(_copy_file, env, remote, f,
                                                    enc if encrypted else None))
        env.catalog.add_copy(CopyRecord(rp.id, target.name, f.name, key, sha, size, f.sha256,
                                        encrypted, env.clock(), verified=True))
    copies = env.catalog.copies(target.name, rp.id)
    raw = manifest.build(rp, copies, enc)
    key = manifest_key(rp.deployment, str(rp.kind), rp.id)
    try:
        size, sha = retrying(backoff, f"{rp.id} manifest", functools.partial(remote.put_bytes, key, raw))
    except StoreError as exc:
        if "already exists" not in str(exc):
            raise
        # An earlier run wrote it and stopped before recording it: the same restore point.
        with remote.open(key) as fh:
            size, sha = hash_stream(fh)
    env.catalog.add_copy(CopyRecord(rp.id, target.name, MANIFEST, key, sha, size, sha, False,
                                    env.clock(), verified=True))


def _copy_file(env: Env, remote: Store, f: FileRecord,
               enc: EncryptionConfig | None) -> tuple[str, str, int]:
    """Stream one local file to ``remote`` (age-encrypted with ``enc``); its key, sha256, size.

    The source is hashed as it is read and must still be the file the catalog recorded. A
    plain copy's bytes are the source's, so its sink takes that digest instead of hashing twice.
    """
    key = f.key + SUFFIX if enc else f.key
    with env.store.open(f.key) as fh, remote.writer(key, hashed=enc is not None) as sink:
        src = HashingReader(fh)
        if enc:
            encrypt_stream(src, sink, enc)
        else:
            while chunk := src.read(CHUNK):
                sink.write(chunk)
        src.check(f.name, f.size, f.sha256)
        try:
            if enc:
                info = sink.commit()
                return key, sink.sha256, info.size
            info = sink.commit(expected_size=f.size, sha256=f.sha256)
        except StoreError as exc:
            # An earlier run's upload, whole, that it stopped before recording: adopted.
            if "already exists" in str(exc) and not enc \
                    and remote.check(key, f.size, f.sha256) is None:
                return key, f.sha256, f.size
            raise
    return key, f.sha256, info.size
