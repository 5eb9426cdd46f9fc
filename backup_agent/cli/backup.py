"""``backup-agent backup``: create, download and verify a config backup."""

from __future__ import annotations

import argparse
from typing import Any

from backup_agent.catalog import Run
from backup_agent.cli.common import Context, add_job_args, run_job_command


def register(sub: Any) -> None:
    p = sub.add_parser("backup", help="create, download and verify a config backup")
    add_job_args(p)
    p.set_defaults(func=run)


def describe(name: str, run: Run) -> list[str]:
    lines = [f"{name}: backup {run.outcome}"]
    if info := run.summary.get("config_backup"):
        lines.append(f"  restore point {info['id']} ({info['size']:,} bytes, version {info['version']})")
    return lines


def run(args: argparse.Namespace, ctx: Context) -> int:
    from backup_agent.jobs.backup import backup

    return run_job_command(ctx, args, backup, describe)
