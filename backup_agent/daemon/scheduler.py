"""``backup-agent run``: the daemon's life cycle (storage lock, port, signals, reload,
shutdown), its schedules and its probes. What runs a job, and the API's trigger, is
:mod:`backup_agent.daemon.runs` (the :class:`Daemon` is a :class:`~backup_agent.daemon.runs.Runs`).

A job never overlaps itself (APScheduler's ``max_instances=1``) nor, for the jobs that write
restore points, another writer of its deployment (a lock per deployment; the run frame's file
lock also keeps a manual run of the same job out). Misfires coalesce into one run; a run
missed while the daemon was down runs once at start when it is overdue.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING, Any

from backup_agent import config as config_mod
from backup_agent.config import Config
from backup_agent.daemon import jobs
from backup_agent.daemon.alerts import Alerter, check_urls
from backup_agent.daemon.metrics import Metrics
from backup_agent.daemon.process import limit_malloc_arenas, storage_lock
from backup_agent.daemon.runs import Runs
from backup_agent.daemon.settings import JOBS, Schedule
from backup_agent.daemon.triggers import trigger_for
from backup_agent.errors import AgentError, CatalogError, StoreError
from backup_agent.jobs.env import Env, utcnow

if TYPE_CHECKING:
    from backup_agent.web.server import WebServer
    from backup_agent.web.state import WebState

log = logging.getLogger("backup_agent.daemon")
SETTLE_SECONDS = 10.0  # after the grace period: how long aborted runs get to record themselves
HEALTH_TICK = 15  # seconds between the daemon's own store and catalog checks
STORAGE_RETRY = 2.0  # seconds between tries of a storage volume that cannot be written


class Daemon(Runs):
    def __init__(self, config: Config, alert_backoff: float = 1.0) -> None:
        super().__init__()
        self.config = config
        self.started = utcnow()
        self.abort = threading.Event()
        self.stopping = threading.Event()
        self._hup = threading.Event()
        self.metrics = Metrics(utcnow)
        check_urls(config.service.alerts.urls)
        self.http: WebServer | None = None  # bound in serve(), once the storage lock is held
        self.storage_problem: str | None = None  # why it waits for the storage, while it waits
        self.owner: str | None = None  # the storage lock's mark once held: triggers record it
        try:
            self.env = jobs.open_env(config, self.abort)
        except (StoreError, CatalogError) as exc:
            # A volume that cannot be written: serve() waits up for it and opens the Env then.
            # Typed as opened: nothing but serve() and the probes runs until it is.
            self.env = None  # type: ignore[assignment]
            self.storage_problem = str(exc)
        self.alerter = Alerter(config.service.alerts, self.metrics.sent, backoff=alert_backoff,
                               state_file=config.storage_path / "alerts.json")
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        # Few threads: writers of a deployment queue behind each other anyway, and every thread
        # that ran a job keeps its own malloc arena (RSS) for the life of the daemon.
        workers = min(16, 4 + 2 * len(config.deployments))
        self.scheduler = BackgroundScheduler(
            timezone=UTC, executors={"default": ThreadPoolExecutor(workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})

    # -- life cycle -----------------------------------------------------------------------
    def serve(self) -> int:
        held = self._storage()
        if held is None:  # stopped while it waited for the storage
            self.shutdown()
            return 0
        with held:
            # The lock before the port: a second daemon with the same configuration is told
            # who holds the storage path, not that the port is taken.
            if self.http is None:
                self._listen()
            assert self.http is not None
            if self.storage_problem is not None:  # it waited
                # The agent log could not be opened at start: it lives on this volume.
                from backup_agent.jobs.env import log_path
                from backup_agent.logsetup import use_file_log

                use_file_log(log_path(self.config))
                log.info("the storage can be written again")
                self.storage_problem = None
                self.ready()  # the store alert resolves now, not at the next health tick
            self._prime()
            self.scheduler.start()
            self._schedule()
            log.info("daemon running: %d deployment(s), listening on %s, pid %d",
                     len(self.config.deployments), self.http.url, os.getpid())
            while not self.stopping.wait(0.2):
                if self._hup.is_set():
                    self._hup.clear()
                    self.reload()
            left = self.shutdown()
        if left:
            logging.shutdown()
            os._exit(0)  # threads that never returned must not hold the exit; all is recorded
        return 0

    def _listen(self) -> None:
        d = self.config.service.daemon
        try:
            from backup_agent.web.app import create_app  # FastAPI only when a daemon starts
            from backup_agent.web.server import WebServer

            self.http = WebServer(create_app(self.web_state()), d.host, d.port, d.web)
        except AgentError:
            if self.env is not None:
                self.env.close()
            raise
        limit_malloc_arenas()
        self._signals()
        self.http.start()
        self.alerter.start()

    def _storage(self) -> contextlib.ExitStack | None:
        """The storage lock held and the Env open; None when stopped before they were.

        A storage volume that cannot be written (read-only, full, not mounted yet) keeps the
        daemon up and waiting: /healthz 200, /readyz 503 with the reason, the ``store`` alert;
        it is tried again every few seconds. Another daemon on the storage is still refused.
        """
        waited = False
        while True:
            held = contextlib.ExitStack()
            try:
                self.owner = held.enter_context(storage_lock(self.config.storage_path))
                if self.env is None:
                    self.env = jobs.open_env(self.config, self.abort)
                return held
            except (StoreError, CatalogError) as exc:
                held.close()
                if not waited:
                    waited = True
                    log.error("the storage cannot be written: %s; waiting for it (/readyz "
                              "answers 503 until then)", exc)
                self.storage_problem = str(exc)
            if self.http is None:
                self._listen()
                log.warning("waiting for the storage, listening on http://%s, pid %d",
                            self.http.address if self.http else "?", os.getpid())
            self.ready()
            if self.stopping.wait(STORAGE_RETRY):
                return None

    def _signals(self) -> None:
        def stop(signum: int, frame: FrameType | None) -> None:
            self.stopping.set()

        def hup(signum: int, frame: FrameType | None) -> None:
            self._hup.set()
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, hup)

    def shutdown(self) -> int:
        """No new runs; running ones get the grace period, then downloads abort. Left over."""
        grace = self.config.service.daemon.grace_seconds
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self._active:
            log.info("stopping: waiting up to %g s for %d running job(s)", grace, len(self._active))
        if not self._wait_idle(grace):
            log.warning("grace period over: aborting %d running job(s)", len(self._active))
            self.abort.set()
            self._wait_idle(SETTLE_SECONDS)
        with self._active_lock:
            left = [(dep, job) for dep, job, _ in self._active.values()]
        for dep, job in left:
            log.error("%s %s did not stop: recorded as interrupted", job, dep)
            with contextlib.suppress(AgentError):
                jobs.finish_orphans(self.env, dep, job, "interrupted: the daemon stopped")
        self.alerter.close(timeout=5.0)
        if self.http is not None:
            self.http.stop()
        if not left:
            self._close_retired(force=True)
            if self.env is not None:
                self.env.close()
        log.info("daemon stopped")
        return len(left)

    def _wait_idle(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while self._active and time.monotonic() < deadline:
            time.sleep(0.05)
        return not self._active

    def reload(self) -> None:
        """SIGHUP: the new configuration, or the old one kept with one error line."""
        path = self.config.path
        try:
            if path is None:
                raise AgentError("no configuration file to reload from")
            new = config_mod.load(path)
            check_urls(new.service.alerts.urls)
            if new.storage_path != self.config.storage_path:
                raise AgentError("storage.path cannot change on reload; restart the daemon")
        except AgentError as exc:
            log.error("configuration reload refused, the running one is kept: %s", exc)
            return
        if new.service.daemon.listen != self.config.service.daemon.listen:
            log.warning("daemon.listen changes only on restart; still on %s",
                        self.http.address if self.http else "?")
        fresh = jobs.open_env(new, self.abort)  # the agent's log is the process's: it stays
        with self._active_lock:
            self._retired.append((time.monotonic(), self.env))  # running jobs keep theirs
            self.config, self.env = new, fresh
        self._close_retired()
        self.alerter.settings = new.service.alerts
        self.scheduler.remove_all_jobs()
        self._schedule()
        log.info("configuration reloaded from %s", path)

    # -- scheduling -----------------------------------------------------------------------
    def _schedule(self) -> None:
        now = utcnow()
        for dep in self.config.deployments:
            for sched in self.config.service.schedules.get(dep.name, ()):
                if sched.off or (sched.job == "retention" and not self.config.prunes):
                    continue
                trigger = trigger_for(sched)
                self.scheduler.add_job(self.run_job, trigger, args=(dep.name, sched.job),
                                       id=f"{dep.name}:{sched.job}", name=f"{sched.job} {dep.name}",
                                       next_run_time=self._first_run(dep.name, sched, trigger, now))
        self.scheduler.add_job(self._tick, "interval", seconds=HEALTH_TICK, id="health")

    def _first_run(self, dep: str, sched: Schedule, trigger: Any, now: datetime) -> datetime:
        """Now when the job is overdue (never ran, or a fire time passed since it last ran)."""
        last = jobs.last_started(self.env, dep, sched.job)
        if last is None:
            return now
        if sched.every is not None:
            return max(now, last + sched.every)
        due = trigger.get_next_fire_time(None, last)
        return now if due is not None and due <= now else trigger.get_next_fire_time(None, now)

    def _prime(self) -> None:
        """Metrics from the catalog before the first run: a restart forgets nothing."""
        for dep in self.config.deployments:
            self.metrics.catalog(dep.name, self.env.catalog.restore_points(dep.name))
            for job in JOBS:
                if (finished := jobs.last_success(self.env, dep.name, job)) is not None:
                    self.metrics.last_success.labels(dep.name, job).set(finished.timestamp())

    def _tick(self) -> None:
        self.ready()
        self._close_retired()

    # -- the web app ----------------------------------------------------------------------
    def web_state(self) -> WebState:
        from backup_agent.web.state import Alert, WebState

        return WebState(get_config=lambda: self.config, env=self._open_env,
                        alerts=lambda: [Alert(*a) for a in self.alerter.firing()],
                        trigger=self.trigger, health=self.health, ready=self.ready,
                        metrics=self.metrics.render, now=utcnow,
                        tls=self.config.service.daemon.web.cookie_secure)

    # -- probes ---------------------------------------------------------------------------
    def health(self) -> tuple[bool, dict[str, Any]]:
        if self.storage_problem is not None and not self.stopping.is_set():
            return True, {"scheduler": "waiting for the storage"}
        running = self.scheduler.running and not self.stopping.is_set()
        return running, {"scheduler": "running" if running else "stopped"}

    def ready(self) -> tuple[bool, dict[str, Any]]:
        """Configuration loaded, store writable, catalog open; the store's state is alerted."""
        env = self.env
        checks: dict[str, Any] = {"config": "loaded"}
        if env is None or self.storage_problem is not None:
            checks.update(store=self.storage_problem or "not open yet", catalog="not open")
        else:
            self._probe(env, checks)
        ok = checks["store"] == "writable" and checks["catalog"] == "open"
        for dep in self.config.deployments:
            self.alerter.set(dep.name, "store", None if checks["store"] == "writable" else "not-writable",
                             "the store is writable again" if checks["store"] == "writable"
                             else f"the store is not writable: {checks['store']}")
        return ok, checks

    @staticmethod
    def _probe(env: Env, checks: dict[str, Any]) -> None:
        try:
            env.store.put_bytes("_probe/readyz", b"ok")
            env.store.delete("_probe/readyz")
            checks["store"] = "writable"
        except AgentError as exc:
            checks["store"] = str(exc)
        try:
            env.catalog.migrations()
            checks["catalog"] = "open"
        except AgentError as exc:
            checks["catalog"] = str(exc)


def serve(path: str | os.PathLike[str]) -> int:
    """Load the configuration and run the daemon until SIGTERM or SIGINT; 0 on a clean stop."""
    return Daemon(config_mod.load(path)).serve()
