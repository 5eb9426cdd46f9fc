"""``backup-agent backup``: create, download and verify a config backup (``--harvest``: the
backups the Management Node already made)."""

from __future__ import annotations

import argparse
from typing import Any

from backup_agent.catalog import Run
from backup_agent.cli.common import Context, add_job_args, run_job_command


def register(sub: Any) -> None:
    p = sub.add_parser("backup", help="create, download and verify a config backup")
    p.add_argument("--harvest", action="store_true",
                   help="instead of creating one, download and verify the backups the Management "
                   "Node already holds (its automatic backups) that the catalog lacks")
    add_job_args(p)
    p.set_defaults(func=run)


def describe(name: str, run: Run) -> list[str]:
    lines = [f"{name}: backup {run.outcome}"]
    if info := run.summary.get("config_backup"):
        lines.append(f"  restore point {info['id']} ({info['size']:,} bytes, version {info['version']})")
    for item in run.summary.get("harvested", []):
        lines.append(f"  harvested {item['filename']} as restore point {item['id']} "
                     f"(version {item['version']})")
    return lines


def run(args: argparse.Namespace, ctx: Context) -> int:
    from backup_agent.jobs.backup import backup
    from backup_agent.jobs.harvest import harvest

    return run_job_command(ctx, args, harvest if args.harvest else backup, describe)
