"""``backup-agent restore``: walk one path of the plan, step by step, journalled.

``--path N`` takes path N of the plan computed from live evidence (as ``backup-agent plan``
shows it); ``--dry-run`` checks every prerequisite and changes nothing; ``--resume`` continues
the newest unfinished restore at its first step not done; ``--journal [ID]`` shows the
journal, the incident record. Manual steps are confirmed at the terminal unless ``--yes``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from backup_agent.cli.common import (
    Context,
    add_deployment,
    add_failure_args,
    add_json,
    down_since_of,
    open_env,
    whole_number,
)
from backup_agent.config import check_url
from backup_agent.errors import EXIT_FAILED, EXIT_NOT_READY, EXIT_OK, ConfigError, UsageError


def register(sub: Any) -> None:
    """Add the ``restore`` command."""
    p = sub.add_parser("restore", help="walk a restore path of the plan, step by step",
                       description="Execute path N of the plan: automated steps through the "
                                   "providers and the Management Node API, manual steps "
                                   "confirmed; every step journalled.")
    add_deployment(p)
    p.add_argument("--path", type=whole_number(1, 10_000), metavar="N", help="the plan's path number")
    add_failure_args(p)
    p.add_argument("--target-url", metavar="URL",
                   help="the fresh Management Node to restore onto (the deployment's "
                        "credentials are used)")
    p.add_argument("--dry-run", action="store_true",
                   help="check every prerequisite; change nothing")
    p.add_argument("--yes", action="store_true", help="confirm manual steps without asking")
    p.add_argument("--resume", nargs="?", const=True, default=False, metavar="ID",
                   help="continue the newest unfinished restore (or restore ID)")
    p.add_argument("--force", action="store_true",
                   help="restore onto a Management Node of another version than the backup's")
    p.add_argument("--journal", nargs="?", const=True, default=False, metavar="ID",
                   help="show the journal of the newest restore (or restore ID) and exit")
    add_json(p)
    p.set_defaults(func=run)


class TerminalOperator:
    """Prints each step (not under --json) and asks for manual steps unless --yes."""

    def __init__(self, ctx: Context, yes: bool, quiet: bool) -> None:
        self.ctx, self.yes, self.quiet = ctx, yes, quiet

    def say(self, line: str) -> None:
        """Show a line (on stderr under --json, so stdout stays JSON)."""
        stream = sys.stderr if self.quiet else self.ctx.out
        stream.write(line + "\n")
        stream.flush()

    def confirm(self, number: int, step: dict[str, Any]) -> bool:
        """--yes confirms; otherwise ask at the terminal."""
        if self.yes:
            return True
        answer = input(f"    Step {number} done and checked? [y/N] ").strip().lower()
        return answer in ("y", "yes")


def _options(args: argparse.Namespace) -> Any:
    from backup_agent.jobs.restore import RestoreOptions

    down_since = down_since_of(args)
    target_url = None
    if args.target_url:
        try:
            target_url = check_url(args.target_url, "--target-url")
        except ConfigError as exc:
            raise UsageError(f"{exc} (expected https://HOST, the fresh Management Node's "
                             "address)") from None
    return RestoreOptions(
        path=args.path, failed=tuple(args.failed), down_since=down_since,
        target_url=target_url,
        dry_run=args.dry_run, resume=bool(args.resume),
        resume_id=args.resume if isinstance(args.resume, str) else None, force=args.force)


def run(args: argparse.Namespace, ctx: Context) -> int:
    """Dry-run, walk, resume, or show the journal."""
    from backup_agent.jobs import restore as job

    if args.journal is not False:
        return show_journal(args, ctx)
    opts = _options(args)
    if opts.resume and opts.dry_run:
        raise UsageError("--resume and --dry-run do not go together")
    dep = ctx.config.deployment(args.deployment)
    env = open_env(ctx)
    try:
        if opts.resume:
            target: Any = job.resumable(env, dep, opts)
            opts.target_url = opts.target_url or target.options.get("target_url")
            steps = target.path["steps"][(target.first_open_step() or 1) - 1:]
        else:
            target = job.choose_path(env, dep, opts)
            steps = target["steps"]
        if opts.dry_run:
            return _dry_run(ctx, job.dry_run(env, dep, target, opts), target)
        if not args.yes and not sys.stdin.isatty() and any(not s["automated"] for s in steps):
            raise UsageError("this path has manual steps to confirm and there is no terminal: "
                             "pass --yes (nothing was changed)")
        operator = TerminalOperator(ctx, args.yes, quiet=args.json)
        # SIGTERM (a service stopping, `kill`) ends the walk as Ctrl-C does, journalled: the
        # entry point raises it as Terminated, a KeyboardInterrupt.
        restore = job.execute(env, dep, target, opts, operator)
        ctx.emit(restore.to_dict(), f"restore {restore.id}: {restore.state}")
        return EXIT_OK if restore.state == "completed" else EXIT_FAILED
    finally:
        env.close()


def _dry_run(ctx: Context, checks: list[Any], path: dict[str, Any]) -> int:
    bad = [c for c in checks if not c.ok]
    lines = [f"Dry run of path {path['number']} ({path['kind']} of {path['target']}): "
             f"{'ready' if not bad else 'NOT ready'}; nothing was changed"]
    lines += [c.line() for c in checks]
    ctx.emit({"path": path["number"], "kind": path["kind"], "ready": not bad,
              "checks": [c.to_dict() for c in checks]}, "\n".join(lines))
    return EXIT_OK if not bad else EXIT_NOT_READY


def show_journal(args: argparse.Namespace, ctx: Context) -> int:
    """The journal of one restore (ID, or the deployment's newest)."""
    from backup_agent.jobs.restore import settle
    from backup_agent.journal import Journal

    env = open_env(ctx)
    try:
        journal = Journal(env.catalog)
        if isinstance(args.journal, str):
            settle(env, journal.get(args.journal).deployment)
            restore = journal.get(args.journal)
        else:
            settle(env, ctx.config.deployment(args.deployment).name)
            found = journal.latest(ctx.config.deployment(args.deployment).name)
            if found is None:
                raise UsageError("no restore in the journal yet")
            restore = found
    finally:
        env.close()
    data = restore.to_dict()
    lines = [f"restore {restore.id}: path {restore.path_number} {restore.kind} of "
             f"{restore.target} ({restore.restore_point or 'no restore point'}), {restore.state}"]
    for s in data["steps"]:
        when = s["finished_at"] or s["started_at"] or ""
        lines.append(f"  {s['step']:>2}. [{s['state']:8}] {s['title']}"
                     f"{' (manual)' if not s['automated'] else ''} {when}")
        if s["detail"]:
            lines.append(f"        {s['detail']}")
    ctx.emit(data, "\n".join(lines))
    return EXIT_OK
