"""``backup-agent export``: export every VMR, Virtual Auditorium and other room with aliases."""

from __future__ import annotations

import argparse
from typing import Any

from backup_agent.catalog import Run
from backup_agent.cli.common import Context, add_job_args, run_job_command


def register(sub: Any) -> None:
    p = sub.add_parser("export", help="export all rooms (VMRs, VAs, ...) with aliases")
    add_job_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    from backup_agent.jobs.export import export

    return run_job_command(ctx, args, export, describe)


def describe(name: str, run: Run) -> list[str]:
    info: dict[str, Any] | None = run.summary.get("room_export")
    lines = [f"{name}: export {run.outcome}"]
    if not info:
        return lines
    if info.get("unchanged"):
        lines.append(f"  {info['rooms']:,} rooms, unchanged since {info['id']}")
        return lines
    lines.append(f"  restore point {info['id']}: {info['rooms']:,} rooms")
    d = info.get("diff")
    if d:
        lines.append(f"  since the previous export: {d['added']} added, {d['removed']} removed, "
                     f"{d['changed']} changed")
    return lines
