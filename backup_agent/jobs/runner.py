"""The frame every job runs in: a run, its items, contact tracking, and the outcome."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from backup_agent.catalog import Run
from backup_agent.config import Deployment
from backup_agent.errors import AgentError, ApiError, StoreError
from backup_agent.jobs.env import Env

log = logging.getLogger(__name__)
Step = Callable[[Env, Deployment, Run, datetime], object]


def run_job(env: Env, deployment: Deployment, job: str, steps: list[tuple[str, Step]]) -> Run:
    """Run ``steps`` in order as items of one run.

    A failed step fails its item and the run goes on (Velero's PartiallyFailed), except when
    the Management Node cannot be reached at all or the store cannot be written: then the
    remaining steps are recorded as skipped with that reason, not tried again and again.
    """
    credentials = deployment.password if deployment.auth_kind == "basic" else deployment.private_key
    if credentials is not None:
        # A missing secret is a configuration error before any run, not a run that fails
        # every step with it.
        credentials.value()
    with env.lock(f"{job}-{deployment.name}"):
        return _run_steps(env, deployment, job, steps)


def _run_steps(env: Env, deployment: Deployment, job: str, steps: list[tuple[str, Step]]) -> Run:
    now = env.clock()
    run = env.catalog.start_run(deployment.name, job, now)
    stop_reason: str | None = None
    for i, (name, step) in enumerate(steps):
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
        except BaseException as exc:
            # Ctrl-C, SIGTERM or a bug: the run still ends with an outcome, not unfinished
            # forever. Only the type is kept: an unexpected message may hold anything.
            reason = "interrupted" if isinstance(exc, KeyboardInterrupt | SystemExit) \
                else f"internal error: {type(exc).__name__}"
            run.item(name, "failed", reason)
            for later, _ in steps[i + 1:]:
                run.item(later, "skipped", f"not tried: {reason}")
            with contextlib.suppress(Exception):
                env.catalog.finish_run(run, env.clock())
            raise
    env.catalog.finish_run(run, env.clock())
    log.info("%s %s: %s", job, deployment.name, run.outcome)
    return run


def _answered(exc: ApiError) -> bool:
    """Whether the Management Node answered at all (it did unless it was unreachable)."""
    from backup_agent.errors import AuthError, ConnectError

    return not isinstance(exc, ConnectError | AuthError)
