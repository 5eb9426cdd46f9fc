"""Restore (replay): walk one path of the plan step by step, journalled in the catalog.

The path comes from the same live evidence as ``backup-agent plan``. Before anything changes,
every automated step's prerequisites are checked (:func:`restore_steps.preflight`); a path
that does not exist or is not ready is refused, naming its blockers. Automated steps run
through the providers and the Management Node API; manual steps are shown with what to check
and confirmed by the operator. Each step is journalled (``started``, then ``done``, ``failed``
or ``skipped``) so ``--resume`` continues at the first step not done, with the path as it was
planned when the restore began.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from backup_agent.config import Deployment
from backup_agent.errors import AgentError, Hint, NotReadyError, UsageError
from backup_agent.jobs import restore_steps
from backup_agent.jobs.env import Env
from backup_agent.jobs.evidence import collect
from backup_agent.jobs.runner import restore_lock_name
from backup_agent.journal import Journal, Restore
from backup_agent.planner import make_plan, parse_evidence
from backup_agent.planner.paths import RestorePath

log = logging.getLogger(__name__)


class Operator(Protocol):
    """Who walks the path with the agent: hears every line, confirms manual steps."""

    def say(self, line: str) -> None:
        """Show a line."""

    def confirm(self, number: int, step: dict[str, Any]) -> bool:
        """Whether manual step ``number`` is done; False stops the restore (resumable)."""


@dataclass
class RestoreOptions:
    """The command line of ``backup-agent restore``."""

    path: int | None = None
    failed: tuple[str, ...] = ()
    down_since: datetime | None = None
    target_url: str | None = None
    dry_run: bool = False
    resume: bool = False
    resume_id: str | None = None
    force: bool = False


def path_record(path: RestorePath) -> dict[str, Any]:
    """A plan path as the journal keeps it: the plan JSON plus number and step actions."""
    record = path.to_dict()
    record["number"] = path.number
    record["steps"] = [{**s.to_dict(), "action": s.action, "ref": s.ref} for s in path.steps]
    return record


def choose_path(env: Env, deployment: Deployment, opts: RestoreOptions,
                evidence: dict[str, Any] | None = None) -> dict[str, Any]:
    """Plan from live evidence (or ``evidence``) and return path ``opts.path`` if it is ready."""
    if opts.path is None:
        raise UsageError("a restore walks one path of the plan (see `backup-agent plan`), or "
                         "resumes an unfinished restore; none was chosen",
                         hint=Hint(flag="--path N (or --resume)"))
    data = evidence if evidence is not None else collect(env, deployment, list(opts.failed),
                                                         opts.down_since)
    plan = make_plan(parse_evidence(data))
    if not 1 <= opts.path <= len(plan.paths):
        kinds = ", ".join(f"{p.number} {p.kind}" for p in plan.paths)
        raise UsageError(f"--path {opts.path}: no such path; the plan has {len(plan.paths)} "
                         f"({kinds})")
    path = plan.paths[opts.path - 1]
    if not path.ready:
        raise NotReadyError(f"path {path.number} ({path.kind} of {path.target}) is not ready: "
                            + "; ".join(path.blockers))
    return path_record(path)


def _context(env: Env, deployment: Deployment, opts: RestoreOptions,
             restore_id: str | None) -> restore_steps.StepContext:
    out_dir = env.config.storage_path / "restores" / restore_id if restore_id else None
    return restore_steps.StepContext(env, deployment, opts.target_url, opts.force, out_dir)


def dry_run(env: Env, deployment: Deployment, path: dict[str, Any],
            opts: RestoreOptions) -> list[restore_steps.Check]:
    """Every prerequisite of ``path``; changes nothing, journals nothing."""
    ctx = _context(env, deployment, opts, None)
    try:
        return restore_steps.preflight(ctx, path["steps"])
    finally:
        ctx.close()


def settle(env: Env, deployment: str) -> None:
    """Record as ``interrupted`` a restore journalled ``running`` whose process is gone.

    A restore killed outright (SIGKILL, a reboot, a closed session) cannot journal its end,
    and the journal, the incident record, said ``running`` for ever. While a restore runs it
    holds the deployment's restore lock; a free lock means none runs.
    """
    journal = Journal(env.catalog)
    running = [r for r in journal.restores(deployment) if r.state == "running"]
    if not running:
        return
    try:
        with env.lock(restore_lock_name(deployment)):
            now = env.clock()
            for restore in running:
                for number, step in sorted(restore.steps.items()):
                    if step.state == "started":
                        journal.step(restore, number, "failed", now,
                                     "interrupted: the restore's process ended during this step")
                journal.finish(restore, "interrupted", now)
    except NotReadyError:
        return  # a restore of this deployment runs now


def resumable(env: Env, deployment: Deployment, opts: RestoreOptions) -> Restore:
    """The restore ``--resume`` continues: the one named, else the newest not completed."""
    settle(env, deployment.name)
    journal = Journal(env.catalog)
    if opts.resume_id:
        restore = journal.get(opts.resume_id)
    else:
        found = journal.latest(deployment.name, unfinished=True)
        if found is None:
            raise UsageError(f"{deployment.name}: no unfinished restore to resume "
                             "(see `backup-agent restore --journal`)")
        restore = found
    if restore.deployment != deployment.name:
        raise UsageError(f"restore {restore.id} is of deployment {restore.deployment}, not "
                         f"{deployment.name}", hint=Hint(flag=f"--deployment {restore.deployment}"))
    if restore.state == "completed":
        raise UsageError(f"restore {restore.id} is completed; nothing to resume")
    if opts.path is not None and opts.path != restore.path_number:
        raise UsageError(f"--path {opts.path}: restore {restore.id} walks path "
                         f"{restore.path_number}; drop --path to resume it")
    return restore


def execute(env: Env, deployment: Deployment, restore: Restore | dict[str, Any],
            opts: RestoreOptions, operator: Operator) -> Restore:
    """Walk a new restore of a path record, or a resumed restore, to its end or first failure.

    Raises the failing step's error after journalling it; the restore then stays resumable.
    One restore of a deployment at a time: a second is refused while the first runs.
    """
    with env.lock(restore_lock_name(deployment.name), "restore",
                  what=f"a restore, backup or export of {deployment.name}"):
        return _execute(env, deployment, restore, opts, operator)


def _execute(env: Env, deployment: Deployment, restore: Restore | dict[str, Any],
             opts: RestoreOptions, operator: Operator) -> Restore:
    journal = Journal(env.catalog)
    options = {"target_url": opts.target_url, "force": opts.force}
    steps = restore["steps"] if isinstance(restore, dict) else restore.path["steps"]
    start = 1 if isinstance(restore, dict) else (restore.first_open_step() or len(steps) + 1)
    # Every prerequisite is checked before the journal or anything else is written.
    pre = _context(env, deployment, opts, restore.id if isinstance(restore, Restore) else None)
    try:
        restore_steps.require(restore_steps.preflight(pre, steps, start))
    finally:
        pre.close()
    if isinstance(restore, dict):
        restore = journal.start(deployment.name, restore, options, env.clock())
    else:
        journal.reopen(restore, env.clock())
    ctx = _context(env, deployment, opts, restore.id)
    ctx.say = operator.say
    operator.say(f"Restore {restore.id}: path {restore.path_number}, {restore.kind} of "
                 f"{restore.target} from {restore.restore_point or 'no restore point'}"
                 + (f", resumed at step {start}" if start > 1 else ""))
    try:
        for number in range(start, len(restore.steps) + 1):
            if not _walk(journal, restore, number, ctx, operator):
                journal.finish(restore, "interrupted", env.clock())
                return restore
        journal.finish(restore, "completed", env.clock())
        return restore
    except BaseException as exc:
        if restore.state == "running":
            journal.finish(restore, "interrupted" if isinstance(exc, KeyboardInterrupt)
                           else "failed", env.clock())
        raise
    finally:
        ctx.close()


def _walk(journal: Journal, restore: Restore, number: int, ctx: restore_steps.StepContext,
          operator: Operator) -> bool:
    """Run or confirm one step; False when the operator stops at a manual step."""
    step = restore.path["steps"][number - 1]
    clock = ctx.env.clock
    operator.say(f"Step {number}/{len(restore.steps)}: {step['title']}"
                 + ("" if step["automated"] else " (manual)"))
    ctx.retrying = restore.steps[number].state in ("started", "failed")
    journal.step(restore, number, "started", clock())
    try:
        if not step["automated"]:
            operator.say(f"    {step['detail']}")
            if not operator.confirm(number, step):
                journal.step(restore, number, "failed", clock(), "not confirmed by the operator")
                operator.say(f"    stopped; continue with `backup-agent restore --deployment "
                             f"{restore.deployment} --resume`")
                return False
            detail = ("confirmed with --yes" if getattr(operator, "yes", False)
                      else "confirmed by the operator")
        elif step["action"] == "check":
            checks = restore_steps.preflight(ctx, restore.path["steps"], number + 1)
            restore_steps.require(checks)
            detail = f"{len(checks)} prerequisite(s) met"
            for check in checks:
                operator.say(check.line())
        else:
            detail = restore_steps.ACTIONS[step["action"]](ctx, str(step.get("ref")))
    except KeyboardInterrupt:
        journal.step(restore, number, "failed", clock(), "interrupted")
        raise
    except AgentError as exc:
        journal.step(restore, number, "failed", clock(), str(exc))
        raise
    journal.step(restore, number, "done", clock(), detail)
    operator.say(f"    done: {detail}")
    return True
