"""``backup-agent copy``: copy every verified restore point not yet copied to the off-site stores."""

from __future__ import annotations

import argparse
from typing import Any

from backup_agent.catalog import Run
from backup_agent.cli.common import Context, add_job_args, run_job_command


def register(sub: Any) -> None:
    p = sub.add_parser("copy", help="copy verified restore points to the [[storage.copies]] stores")
    p.add_argument("--store", metavar="NAME", help="only this copy store (default: every one)")
    add_job_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    from backup_agent.jobs.copy import copy

    if args.store:
        ctx.config.copy(args.store)  # an unknown name is a usage error before any run
    return run_job_command(ctx, args, lambda env, dep: copy(env, dep, args.store), describe)


def describe(name: str, run: Run) -> list[str]:
    lines = [f"{name}: copy {run.outcome}"]
    for store, count in run.summary.get("copied", {}).items():
        lines.append(f"  {store}: {count} restore point(s) copied")
    for item, (state, reason) in run.items.items():
        if ":" in item and state != "ok":
            lines.append(f"  {item}: {state}" + (f" ({reason})" if reason else ""))
    return lines
