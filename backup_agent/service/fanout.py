"""Jobs over deployments, each one's outcome as data, and the exit code of them all.

Entry points for every front end (the CLI's commands, the daemon's schedule):

- :func:`run_job` ``(env, deployment, job, **options) -> Run``: one job by its name (see
  :data:`JOBS`) for one deployment, in the run frame (lock, secrets, interruption, outcome).
- :func:`run_each` ``(env, deployments, job) -> list[Outcome]``: the job for each deployment
  in turn; one deployment's error (a missing secret, a held lock) is its outcome, and the
  others still run. Ctrl-C and SIGTERM stop them all.
- :func:`exit_code` of one outcome and :func:`combined_exit_code` of several.

Nothing here prints: the CLI renders an :class:`Outcome` as lines or JSON, a daemon as a log
line, a metric or an alert (an error's hint as the config key, :meth:`AgentError.for_daemon`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from backup_agent.catalog import Run
from backup_agent.config import Deployment
from backup_agent.errors import EXIT_FAILED, EXIT_OK, EXIT_PARTIAL, AgentError, UsageError
from backup_agent.jobs.env import Env

Job = Callable[[Env, Deployment], Run]


def _backup(env: Env, deployment: Deployment, **options: Any) -> Run:
    from backup_agent.jobs.backup import backup

    return backup(env, deployment)


def _export(env: Env, deployment: Deployment, **options: Any) -> Run:
    from backup_agent.jobs.export import export

    return export(env, deployment)


def _snapshot(env: Env, deployment: Deployment, **options: Any) -> Run:
    """``nodes`` (names; default: every node with a provider and a VM), ``reason``, ``parallel``."""
    from backup_agent.jobs import snapshots

    names = options.get("nodes") or [n.name for n in deployment.nodes if n.provider and n.vm]
    return snapshots.take(env, deployment, [deployment.node(n) for n in names],
                          str(options.get("reason", "scheduled")), int(options.get("parallel", 5)))


def _drill(env: Env, deployment: Deployment, **options: Any) -> Run:
    """``scenario``: one of :data:`backup_agent.jobs.DRILL_SCENARIOS`."""
    from backup_agent.jobs.drill import drill

    return drill(env, deployment, str(options.get("scenario", "management-lost")))


#: The jobs a front end can run by name; each makes restore points (or drills them).
JOBS: dict[str, Callable[..., Run]] = {"backup": _backup, "export": _export,
                                       "snapshot": _snapshot, "drill": _drill}


def run_job(env: Env, deployment: Deployment, job: str, **options: Any) -> Run:
    """Run the job named ``job`` for ``deployment`` (options as each job's docstring says)."""
    if job not in JOBS:
        raise UsageError(f"no job named {job!r} (one of {', '.join(JOBS)})")
    return JOBS[job](env, deployment, **options)


@dataclass(frozen=True)
class Outcome:
    """What one deployment's job came to: its run, or the error that stopped it before one."""

    deployment: str
    run: Run | None = None
    error: AgentError | None = None

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return self.error.exit_code
        assert self.run is not None
        return exit_code(self.run)

    def to_dict(self) -> dict[str, Any]:
        """The run's JSON, or ``{"deployment", "error", "exit_code"}`` and the error's hint."""
        if self.run is not None:
            return self.run.to_dict()
        assert self.error is not None
        out: dict[str, Any] = {"deployment": self.deployment, "error": str(self.error),
                               "exit_code": self.exit_code}
        if self.error.hint is not None:
            out["hint"] = {"flag": self.error.hint.flag, "config_key": self.error.hint.config_key}
        return out


def exit_code(run: Run) -> int:
    """completed → 0, partially_failed → 3, failed → 1."""
    return {"completed": EXIT_OK, "partially_failed": EXIT_PARTIAL}.get(run.outcome or "", EXIT_FAILED)


def run_each(env: Env, deployments: Iterable[Deployment], job: Job,
             on_outcome: Callable[[Outcome], object] | None = None) -> list[Outcome]:
    """``job`` for each deployment in turn; an AgentError is that deployment's outcome.

    ``on_outcome`` is told each one as it ends (a terminal shows it before the next starts).
    """
    outcomes = []
    for dep in deployments:
        try:
            outcome = Outcome(dep.name, run=job(env, dep))
        except AgentError as exc:
            outcome = Outcome(dep.name, error=exc)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes


def combined_exit_code(codes: list[int]) -> int:
    """The exit code of a run over several deployments.

    All alike: that code. Some saved something (0 or 3) and some did not: partially failed (3).
    None saved anything: the highest of their codes.
    """
    if all(c == codes[0] for c in codes):
        return codes[0]
    if any(c in (EXIT_OK, EXIT_PARTIAL) for c in codes):
        return EXIT_PARTIAL
    return max(codes)
