"""The daemon's one adapter to the jobs: everything the scheduler runs goes through here.

``backup`` and ``export`` are the service layer's (``service/fanout.py``, the run frame: one
lock per deployment, secrets read first, interruption recorded); ``retention`` is in the run
frame too (``jobs/retention.py``); ``verify`` checks each point with ``service/verify.py``.
``watch``, ``verify`` and ``audit`` write no restore point, so they run outside the frame and
its lock, in a run of their own (:func:`own_run`). Never imports ``cli/``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from backup_agent.catalog import RestorePoint, Run, iso, parse_iso
from backup_agent.config import Config, Deployment
from backup_agent.errors import AgentError, ApiError
from backup_agent.jobs.checkpoint import age_warnings as checkpoint_age_warnings
from backup_agent.jobs.env import Env, Progress
from backup_agent.service.verify import verify_point

log = logging.getLogger(__name__)
JobFn = Callable[[Env, Deployment], Run | None]
VERIFY_PER_RUN = 20  # restore points re-hashed per verify run, the least recently checked first


class Aborted(KeyboardInterrupt):
    """Raised inside a download when the daemon stops and the grace period is over.

    A KeyboardInterrupt so that the run frame ends the run as ``interrupted`` and the
    temporary file is dropped, exactly as Ctrl-C in the CLI does.
    """


def open_env(config: Config, abort: threading.Event) -> Env:
    """An Env whose downloads stop (cleanly) once ``abort`` is set."""
    def progress(label: str) -> Progress:
        def tick(done: int, total: int | None) -> None:
            if abort.is_set():
                raise Aborted(f"daemon stopping: {label} aborted at {done} bytes")
        return tick
    return Env.open(config, progress=progress)


def backup(env: Env, dep: Deployment) -> Run:
    """The service layer's backup: what ``backup-agent backup`` runs, in the run frame."""
    from backup_agent.service.fanout import run_job

    return run_job(env, dep, "backup")


def export(env: Env, dep: Deployment) -> Run:
    """The service layer's export: what ``backup-agent export`` runs, in the run frame."""
    from backup_agent.service.fanout import run_job

    return run_job(env, dep, "export")


def retention(env: Env, dep: Deployment) -> Run | None:
    from backup_agent.jobs.retention import prune

    return prune(env, dep)[1]


WATCH_RETRIES, WATCH_TIMEOUT = 2, 10.0


def watch(env: Env, dep: Deployment) -> Run:
    """A light probe: the Management Node answers or not, recorded as the last contact.

    Outside the run frame on purpose: it writes no restore point, so it takes no deployment
    lock and never keeps a backup from starting (nor waits for one). Two retries, ten seconds
    a request: a dropped packet is not an outage, and a node that is down is known within a
    minute, not after a backup's patience.
    """
    from dataclasses import replace

    from backup_agent.infinity import InfinityClient

    light = replace(dep, retries=min(dep.retries, WATCH_RETRIES), timeout=min(dep.timeout, WATCH_TIMEOUT))
    with own_run(env, dep, "watch") as run:
        try:
            with InfinityClient(light, sleep=env.clients.sleep) as client:
                client.management_vm_status()
        except ApiError as exc:
            env.catalog.record_contact(dep.name, env.clock(), error=str(exc))
            run.item("probe", "failed", str(exc))
        else:
            env.catalog.record_contact(dep.name, env.clock())
            run.item("probe", "ok")
    return run


def verify(env: Env, dep: Deployment) -> Run:
    """Re-hash a subset of the stored restore points, the least recently checked first."""
    rps = [rp for rp in env.catalog.restore_points(dep.name) if rp.files]
    rps.sort(key=lambda rp: (str(rp.data.get("checked_at", "")), rp.taken_at))
    with own_run(env, dep, "verify") as run:
        for rp in rps[:VERIFY_PER_RUN]:
            checked = verify_point(env, rp)  # what `backup-agent verify` does, point by point
            env.catalog.update_data(rp.id, checked_at=iso(env.clock()))
            run.item(rp.id, "ok" if checked.ok else "failed", "; ".join(checked.problems) or None)
        if not run.items:
            run.item("verify", "skipped", "no stored restore points yet")
            run.item("catalog", "ok")
    return run


def audit(env: Env, dep: Deployment, stale_after: timedelta, since: datetime) -> Run:
    """Findings as failed items: expired agent snapshots, a stale backup, checkpoints whose
    snapshots are past ``checkpoint_max_age_days``, autobackup off.

    A backup is stale when the newest verified one is older than ``stale_after``; with none
    at all, when the daemon has run (``since``) that long without making one.
    """
    now = env.clock()
    with own_run(env, dep, "audit") as run:
        expired = [rp.id for rp in env.catalog.restore_points(dep.name, "snapshot") if _expired(rp, now)]
        run.item("snapshots", "failed" if expired else "ok",
                 f"agent snapshots past their expiry: {', '.join(expired)}" if expired else None)
        newest = next((rp for rp in env.catalog.restore_points(dep.name, "config-backup")
                       if rp.verified), None)
        if now - (newest.taken_at if newest else since) > stale_after:
            run.item("backup-age", "failed", "no verified config backup yet" if newest is None else
                     f"the newest verified config backup {newest.id} is older than {stale_after}")
        else:
            run.item("backup-age", "ok")
        old = checkpoint_age_warnings(env, dep, now)  # what `status` warns of, as a finding
        run.item("checkpoint-age", "failed" if old else "ok", "; ".join(old) or None)
        run.summary["checkpoints_past_age"] = len(old)
        try:
            enabled = env.client(dep).autobackup().get("autobackup_enabled")
            run.item("autobackup", "ok" if enabled else "failed",
                     None if enabled else "the Management Node's built-in autobackup is disabled")
        except AgentError as exc:  # unreachable, refused, a missing secret: not a finding
            run.item("autobackup", "skipped", f"not checked: {exc}")
    return run


@contextmanager
def own_run(env: Env, dep: Deployment, job: str) -> Iterator[Run]:
    """A run for a job outside the run frame; it ends with an outcome whatever happens.

    An AgentError (the catalog or store failing midway) fails the run's item and is not raised
    further: the run is the record of it. Anything else is recorded, then raised.
    """
    run = env.catalog.start_run(dep.name, job, env.clock())
    try:
        yield run
    except AgentError as exc:
        log.error("%s %s: %s", job, dep.name, exc.for_daemon())
        run.item(job, "failed", exc.for_daemon())
    except BaseException as exc:
        run.item(job, "failed", "interrupted" if isinstance(exc, KeyboardInterrupt)
                 else f"internal error: {type(exc).__name__}")
        raise
    finally:
        env.catalog.finish_run(run, env.clock())


def _expired(rp: RestorePoint, now: datetime) -> bool:
    expires = rp.data.get("expires")
    return isinstance(expires, str) and parse_iso(expires) <= now


def last_started(env: Env, deployment: str, job: str) -> datetime | None:
    """When the job last started for the deployment (what makes a run overdue at start)."""
    runs = env.catalog.runs(deployment, limit=1, job=job)
    return runs[0].started_at if runs else None


def last_success(env: Env, deployment: str, job: str) -> datetime | None:
    """When a recent run of the job last completed (None when none of the last 50 did)."""
    return next((r.finished_at for r in env.catalog.runs(deployment, limit=50, job=job)
                 if r.outcome == "completed"), None)


def record_refusal(env: Env, dep: str, job: str, exc: AgentError) -> Run:
    """A job that could not start (a missing secret) still leaves a failed run behind."""
    run = env.catalog.start_run(dep, job, env.clock())
    run.item(job, "failed", exc.for_daemon())  # its hint as a config key
    return env.catalog.finish_run(run, env.clock())


def record_not_started(env: Env, dep: str, job: str, reason: str) -> Run:
    """A triggered run that never started (its lock held elsewhere, the daemon stopping)."""
    run = env.catalog.start_run(dep, job, env.clock())  # takes over the trigger's row
    run.item(job, "failed", f"not started: {reason}")
    return env.catalog.finish_run(run, env.clock())


def held_elsewhere(env: Env, deployment: str) -> bool:
    """Whether another process (a command-line run, a restore) holds the deployment's run or
    restore lock now. Probed with a shared flock taken and dropped at once: nothing is
    written; a run starting in that instant is refused as if one ran (and says to retry)."""
    import fcntl
    import os

    from backup_agent.jobs.runner import lock_name, restore_lock_name

    for name in (lock_name(deployment), restore_lock_name(deployment)):
        try:
            fd = os.open(env.config.storage_path / "locks" / f"{name}.lock", os.O_RDONLY)
        except OSError:
            continue  # never taken: nobody holds it
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # drops the shared lock with the descriptor
    return False


def running_writer(env: Env, deployment: str) -> str | None:
    """The id of the newest unfinished run (or restore) of the deployment that writes."""
    run = next((r.id for r in env.catalog.runs(deployment, limit=20)
                if r.finished_at is None and r.job not in ("watch", "audit")), None)
    if run is None and (restores := env.catalog.restores(deployment, limit=1, unfinished=True)):
        return restores[0].id if restores[0].state == "running" else None
    return run


def checkpoint(env: Env, dep: Deployment) -> Run:
    """The pre-upgrade checkpoint with its defaults (no target version, nothing waived),
    as ``backup-agent checkpoint create`` takes it; a trigger's job, never scheduled."""
    from backup_agent.jobs.checkpoint import create

    return create(env, dep)


def finish_orphans(env: Env, deployment: str, job: str, reason: str) -> None:
    """Runs of a job left unfinished (a thread that never came back): failed with ``reason``."""
    for run in env.catalog.runs(deployment, limit=20, job=job):
        if run.finished_at is None:
            run.summary.pop("reserved_by", None)  # a trigger's row: the mark ends with it
            run.item(job, "failed", reason)
            env.catalog.finish_run(run, env.clock())


JOBS: dict[str, JobFn] = {"backup": backup, "export": export, "retention": retention,
                          "watch": watch, "verify": verify, "checkpoint": checkpoint}
