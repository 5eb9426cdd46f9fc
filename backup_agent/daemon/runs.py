"""The daemon's runs: one run of a job, its writer lock and aftermath, and the API's trigger.

:class:`Runs` is the part of :class:`~backup_agent.daemon.scheduler.Daemon` that runs jobs:
``run_job`` (what every schedule and trigger calls, on an executor thread), the in-process
writer lock per deployment (:data:`LOCKED` jobs queue behind each other), the outcome's
metrics and alerts, the Envs retired by a reload, and ``trigger`` (the run row made before
the 202, marked with the daemon's storage-lock mark). The life cycle, the schedules and the
probes stay in ``scheduler.py``; they set the attributes declared here.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from backup_agent.catalog import Run, parse_iso
from backup_agent.catalog.actor import reserved_left, started_by
from backup_agent.config import Config, Deployment
from backup_agent.daemon import conditions, jobs
from backup_agent.daemon.settings import SERIALISED
from backup_agent.daemon.triggers import interval_of
from backup_agent.errors import AgentError, NotReadyError
from backup_agent.jobs.env import Env, utcnow

if TYPE_CHECKING:
    from datetime import datetime

    from apscheduler.schedulers.background import BackgroundScheduler

    from backup_agent.daemon.alerts import Alerter
    from backup_agent.daemon.metrics import Metrics

log = logging.getLogger("backup_agent.daemon")
RETIRED_GRACE = 60.0  # seconds a replaced configuration's Env stays open for web requests
#: Jobs that hold the deployment's writer lock here: the schedule's and the checkpoint.
LOCKED = SERIALISED | {"checkpoint"}
SCHEDULE_ACTOR = "schedule"


class Runs:
    """Runs of jobs in the daemon (see the module). Set by the Daemon: the attributes below."""

    config: Config
    env: Env
    started: datetime
    stopping: threading.Event
    metrics: Metrics
    alerter: Alerter
    scheduler: BackgroundScheduler
    owner: str | None
    storage_problem: str | None

    def __init__(self) -> None:
        self._writers: dict[str, threading.Lock] = {}
        self._active: dict[int, tuple[str, str, Env]] = {}
        # Environments of configurations replaced by a reload, with when: closed once no job
        # uses them and RETIRED_GRACE has passed (a web request may still be reading one).
        self._retired: list[tuple[float, Env]] = []
        self._active_lock = threading.Lock()
        self._pending: dict[str, str] = {}  # deployment -> run id of a trigger not done yet
        self._trigger_lock = threading.Lock()

    def _open_env(self) -> Env:
        if self.env is None:  # serve() waits for the storage volume: the API answers 503
            raise NotReadyError(f"waiting for the storage: {self.storage_problem}")
        return self.env

    # -- one run --------------------------------------------------------------------------
    def run_job(self, dep_name: str, job: str, actor: str = SCHEDULE_ACTOR,
                reserved: str | None = None) -> None:
        """One run; ``reserved`` is the id of the run row a trigger made for it (web/api.py)."""
        token = threading.get_ident()
        with self._active_lock:  # registered first: a reload must not close this env under it
            env, cfg = self.env, self.config
            self._active[token] = (dep_name, job, env)
        try:
            with started_by(actor, (reserved, dep_name, job) if reserved else None):
                dep = next((d for d in cfg.deployments if d.name == dep_name), None)
                if dep is not None and not self.stopping.is_set():
                    self._run_locked(env, dep, job)
                if reserved_left() is not None:  # the trigger's run never started: say why
                    why = "the daemon is stopping" if self.stopping.is_set() else \
                        "the deployment left the configuration"
                    jobs.record_not_started(env, dep_name, job, why)
        finally:
            with self._active_lock:
                self._active.pop(token, None)
            if reserved is not None:
                with self._trigger_lock:
                    if self._pending.get(dep_name) == reserved:
                        del self._pending[dep_name]
            self._close_retired()

    def _run_locked(self, env: Env, dep: Deployment, job: str) -> None:
        lock = self._writers.setdefault(dep.name, threading.Lock()) if job in LOCKED else None
        while lock is not None and not lock.acquire(timeout=0.2):
            if self.stopping.is_set():
                return
        try:
            run = self._call(env, dep, job)
        finally:
            if lock is not None:
                lock.release()
        if run is not None:
            self._after(env, dep, run)

    def _close_retired(self, force: bool = False) -> None:
        with self._active_lock:
            busy = {id(env) for _, _, env in self._active.values()}
            due = time.monotonic() - RETIRED_GRACE
            done = [env for at, env in self._retired if id(env) not in busy and (force or at <= due)]
            closing = {id(env) for env in done}
            self._retired = [(at, env) for at, env in self._retired if id(env) not in closing]
        for env in done:
            env.close()

    def _call(self, env: Env, dep: Deployment, job: str) -> Run | None:
        try:
            if job == "audit":
                return jobs.audit(env, dep, self.stale_after(dep.name), self.started)
            return jobs.JOBS[job](env, dep)
        except NotReadyError as exc:
            log.warning("%s %s not started: %s", job, dep.name, exc)
            if reserved_left() is not None:  # a trigger's run: it ends failed, with the reason
                return jobs.record_not_started(env, dep.name, job, str(exc))
            return None
        except AgentError as exc:
            log.error("%s %s: %s", job, dep.name, exc.for_daemon())
            return jobs.record_refusal(env, dep.name, job, exc)
        except (KeyboardInterrupt, Exception) as exc:
            # The run frame recorded the run (interrupted, or an internal error) before this;
            # a job outside it (verify, audit) left its run open: it ends here, failed.
            reason = "interrupted: the daemon stopped" if isinstance(exc, KeyboardInterrupt) \
                else f"internal error: {type(exc).__name__}"
            if not isinstance(exc, KeyboardInterrupt):
                log.error("%s %s: %s", job, dep.name, reason)
            jobs.finish_orphans(env, dep.name, job, reason)
            runs = env.catalog.runs(dep.name, limit=1, job=job)
            return runs[0] if runs else None

    def _after(self, env: Env, dep: Deployment, run: Run) -> None:
        duration = ((run.finished_at or run.started_at) - run.started_at).total_seconds()
        log.info("%s %s: %s in %.1f s", run.job, dep.name, run.outcome, duration)
        self.metrics.observe(run)
        if run.job != "watch":
            self.metrics.catalog(dep.name, env.catalog.restore_points(dep.name))
            found = conditions.from_run(run)
        else:
            up = run.outcome == "completed"
            last = env.catalog.contact(dep.name)["last_contact"]
            critical = timedelta(hours=self.config.service.alerts.critical_hours)
            deadline, cond = conditions.autonomy(up, parse_iso(last) if last else None, utcnow(), critical)
            self.metrics.contact(dep.name, up, deadline)
            found = [cond]
        for key, state, message in found:
            self.alerter.set(dep.name, key, state, message)

    def stale_after(self, dep: str) -> timedelta:
        """``[alerts] stale_after``, or the backup schedule's interval plus two hours."""
        if self.config.service.alerts.stale_after is not None:
            return self.config.service.alerts.stale_after
        backup = next((s for s in self.config.service.schedules.get(dep, ()) if s.job == "backup"), None)
        return (interval_of(backup) if backup else timedelta(days=1)) + timedelta(hours=2)

    # -- triggers -----------------------------------------------------------------------
    def trigger(self, dep_name: str, job: str, actor: str) -> str:
        """Queue ``job`` for ``dep_name`` now, in the daemon's executor, on behalf of ``actor``.

        Its run row is made here (outcome None) and its id returned, so the caller can follow
        it at once; the job takes the row over when it starts. Busy when a writer of the
        deployment runs or a trigger of it is queued.
        """
        from backup_agent.web.state import Busy

        with self._trigger_lock:
            if self.stopping.is_set():
                raise NotReadyError("the daemon is stopping; no new runs")
            if (pending := self._pending.get(dep_name)) is not None:
                raise Busy(pending)
            env, lock = self._open_env(), self._writers.get(dep_name)
            if (lock is not None and lock.locked()) or jobs.held_elsewhere(env, dep_name):
                raise Busy(jobs.running_writer(env, dep_name))
            if self.owner is None:
                raise NotReadyError("waiting for the storage lock; no new runs yet")
            with started_by(actor):  # marked ours: another process's run leaves it alone
                run = env.catalog.start_run(dep_name, job, utcnow(), reserved_by=self.owner)
            self._pending[dep_name] = run.id
        log.info("%s %s triggered by %s: run %s", job, dep_name, actor, run.id)
        self.scheduler.add_job(self.run_job, args=(dep_name, job),
                               kwargs={"actor": actor, "reserved": run.id},
                               id=f"trigger:{run.id}", name=f"{job} {dep_name} ({actor})")
        return run.id
