"""The run frame: the one place every job that makes or changes restore points runs in.

:func:`frame` owns, for backup, export, snapshots and drills (and the checkpoint, prune and
off-site copy to come):

- **the secret pre-check**: the deployment's credentials, and what the job adds (a
  passphrase, a provider's settings), read before any run exists, so a missing secret is a
  configuration error (exit 2), not a run failing item by item;
- **one lock per deployment** (``locks/run-NAME.lock``): a backup and an export of one
  deployment never run at once, and a second run refuses at once (exit 4). Restore-point
  ids need no lock: the catalog reserves them atomically (a unique key in the insert). The
  restore has its own ``restore-NAME`` lock: "run-" and "restore-" differ in their second
  letter, so no deployment name makes the two lock files collide;
- **interruption**: Ctrl-C, SIGTERM (raised as :class:`~backup_agent.errors.Terminated` by
  the entry point) or a bug end the run in the catalog with its unfinished items failed
  ``interrupted`` (or ``internal error: Type``), then the exception goes on up;
- **the outcome**: from the ``purpose`` items (the restore points the run exists to make):
  none made, the run failed, whatever else succeeded; see :meth:`Run.decide`;
- **items in parallel within a bound** (:func:`run_parallel`);
- **the clean-up of anything not recorded** (:func:`kept_if_recorded`).

:func:`run_job` is the frame around sequential steps (backup, export).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar

from backup_agent.catalog import Run
from backup_agent.catalog.actor import reserved_for
from backup_agent.config import Deployment
from backup_agent.daemon.process import live_daemon
from backup_agent.errors import AgentError, ApiError, AuthError, ConnectError, StoreError
from backup_agent.jobs import orphans
from backup_agent.jobs.env import Env

log = logging.getLogger(__name__)
Step = Callable[[Env, Deployment, Run, datetime], object]
T = TypeVar("T")


def lock_name(deployment: str) -> str:
    """The lock every run of ``deployment`` holds."""
    return f"run-{deployment}"


def restore_lock_name(deployment: str) -> str:
    """The lock a restore of ``deployment`` holds; backup, export and harvest hold it too."""
    return f"restore-{deployment}"


def check_secrets(deployment: Deployment) -> None:
    """Read the deployment's API credentials now: a missing one is a configuration error."""
    credentials = deployment.password if deployment.auth_kind == "basic" else deployment.private_key
    if credentials is not None:
        credentials.value()


@contextmanager
def frame(env: Env, deployment: Deployment, job: str, items: Sequence[str], *,
          purpose: Collection[str] = (), check: Callable[[], object] | None = None,
          needs_api: bool = True, also_lock: str | None = None) -> Iterator[Run]:
    """A run of ``job`` for ``deployment`` whose ``items`` the body records (see the module).

    ``also_lock`` is held too, after the run lock (backup and export hold the restore lock).
    ``check`` reads the job's own secrets and settings before the run; ``needs_api=False``
    skips reading the API credentials, for a job that can do without the Management Node (a
    drill reaches no production node; snapshots are taken when it is down).

    An exception out of the body fails the first unrecorded item with its reason, skips the
    rest, finishes the run and goes on up: an AgentError too (a job's own refusal half-way),
    so that no run stays unfinished forever.
    """
    if needs_api:
        check_secrets(deployment)
    if check is not None:
        check()
    with env.lock(lock_name(deployment.name), job, what=f"a run of {deployment.name}"), \
            (env.lock(also_lock, job, what=f"a restore of {deployment.name}") if also_lock
             else contextlib.nullcontext()):
        _end_killed(env, deployment.name, job)
        run = env.catalog.start_run(deployment.name, job, env.clock())
        run.purpose = frozenset(purpose)
        try:
            yield run
        except BaseException as exc:
            _end_unfinished(run, items, reason_of(exc))
            with contextlib.suppress(Exception):
                env.catalog.finish_run(run, env.clock())
            raise
        env.catalog.finish_run(run, env.clock())
    log.info("%s %s: %s", job, deployment.name, run.outcome)


KILLED = "interrupted: the process ended before it recorded an outcome (killed or crashed)"


def _end_killed(env: Env, deployment: str, job: str) -> None:
    """Runs of ``job`` left without an outcome end failed now. Every run of it holds this
    deployment's run lock, which is held here: the process of an unfinished one is gone
    (SIGKILL, power loss), and its run would otherwise stay without an outcome for ever.

    Except a trigger's reserved row whose daemon still holds the storage lock: its job is
    queued there and takes the row over when it starts (then it meets this lock, or ends
    the row "not started"). The row of a daemon that died or was replaced ends here."""
    mine = reserved_for(deployment, job)  # the row a trigger made for this run: not a dead one
    live: str | None = None
    for stale in env.catalog.runs(deployment, limit=20, job=job):
        if stale.finished_at is None and stale.id != mine:
            if (owner := stale.summary.get("reserved_by")) is not None:
                live = live or live_daemon(env.config.storage_path)
                if owner == live:
                    continue
                del stale.summary["reserved_by"]  # its owner is gone: only what ended it stays
            stale.item(job, "failed", KILLED)
            env.catalog.finish_run(stale, env.clock())
            log.warning("%s %s: run %s had no outcome: %s", job, deployment, stale.id, KILLED)


def reason_of(exc: BaseException) -> str:
    """What an unfinished item is recorded with. An unexpected message may hold anything, so
    of a bug only the type is kept."""
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        return "interrupted"
    if isinstance(exc, AgentError):
        return str(exc)
    return f"internal error: {type(exc).__name__}"


def _end_unfinished(run: Run, items: Sequence[str], reason: str) -> None:
    first = True
    for name in items:
        if name in run.items:
            continue
        run.item(name, "failed" if first else "skipped", reason if first else f"not tried: {reason}")
        first = False


def run_job(env: Env, deployment: Deployment, job: str, steps: list[tuple[str, Step]], *,
            purpose: Collection[str] = (), check: Callable[[], object] | None = None) -> Run:
    """Run ``steps`` in order as items of one run, in the frame.

    A failed step fails its item and the run goes on (Velero's PartiallyFailed), except when
    the Management Node cannot be reached at all or the store cannot be written: then the
    remaining steps are recorded as skipped with that reason, not tried again and again.
    """
    # Not while a restore of the deployment runs (and no restore starts meanwhile): an export
    # taken mid-import recorded 555 of 1,500 rooms and became the newest room export.
    with frame(env, deployment, job, [name for name, _ in steps], purpose=purpose,
               check=check, also_lock=restore_lock_name(deployment.name)) as run:
        now = run.started_at
        removed = orphans.sweep(env, deployment.name)
        stop_reason: str | None = None
        for name, step in steps:
            if stop_reason:
                run.item(name, "skipped", stop_reason)
                continue
            try:
                step(env, deployment, run, now)
                env.catalog.record_contact(deployment.name, env.clock())
            except AgentError as exc:
                log.error("%s %s: %s failed: %s", job, deployment.name, name, exc)
                run.item(name, "failed", str(exc))
                if isinstance(exc, ApiError) and not _answered(exc):
                    env.catalog.record_contact(deployment.name, env.clock(), error=str(exc))
                    stop_reason = f"not tried: {exc}"
                elif isinstance(exc, StoreError):
                    stop_reason = f"not tried: {exc}"
        if removed:
            run.summary = {**(run.summary or {}), "orphans_removed": removed}
    return run


def run_parallel(run: Run, items: Sequence[tuple[str, Callable[[], T]]], limit: int) -> dict[str, T]:
    """Run ``items`` at most ``limit`` at once; each one's item ``ok`` or ``failed`` with its
    AgentError. The results of those that succeeded, by item name.

    On Ctrl-C, SIGTERM or a bug, the items not started are not started; those running are
    waited for (a snapshot being made is recorded, not orphaned) and recorded; the rest fail
    ``interrupted``; then the exception goes on up to the frame.
    """
    results: dict[str, T] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, limit))
    futures: dict[Future[T], str] = {}
    try:
        for name, work in items:  # inside the try: Ctrl-C may come while they are handed out
            futures[pool.submit(work)] = name
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                _collect(run, futures[future], future, results)
    except BaseException as exc:
        pool.shutdown(wait=True, cancel_futures=True)
        for future, name in futures.items():
            if name not in run.items and future.done() and not future.cancelled():
                _collect(run, name, future, results)
        for name, _ in items:
            if name not in run.items:
                run.item(name, "failed", reason_of(exc))
        raise
    pool.shutdown()
    return results


def _collect(run: Run, name: str, future: Future[T], results: dict[str, T]) -> None:
    exc = future.exception()
    if exc is None:
        results[name] = future.result()
        run.item(name, "ok")
    elif isinstance(exc, AgentError):
        run.item(name, "failed", str(exc))
    else:
        raise exc


class Written:
    """The store keys one restore point is being written to; see :func:`kept_if_recorded`."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def add(self, key: str) -> str:
        """Note ``key`` (before writing it: a half-written key goes too); returns it."""
        self.keys.append(key)
        return key


@contextmanager
def kept_if_recorded(env: Env) -> Iterator[Written]:
    """Not recorded, not kept: the store holds nothing the catalog does not vouch for.

    Every key noted inside is deleted when the block does not finish (a failed write, the
    catalog refusing the restore point, Ctrl-C); the block ends with the catalog insert.
    """
    written = Written()
    try:
        yield written
    except BaseException:
        for key in reversed(written.keys):
            with contextlib.suppress(AgentError, OSError):
                env.store.delete(key)
        raise


def _answered(exc: ApiError) -> bool:
    """Whether the Management Node answered at all (it did unless it was unreachable)."""
    return not isinstance(exc, ConnectError | AuthError)
