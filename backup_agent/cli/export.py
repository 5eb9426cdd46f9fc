"""``backup-agent export``: export every VMR, Virtual Auditorium and other room with aliases."""

from __future__ import annotations

import argparse
from typing import Any

from backup_agent.cli.common import Context, add_deployment, add_json, open_env, report_run


def register(sub: Any) -> None:
    p = sub.add_parser("export", help="export all rooms (VMRs, VAs, ...) with aliases")
    add_deployment(p)
    p.add_argument("--all", action="store_true", help="every configured deployment")
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    from backup_agent.jobs.export import export

    deployments = ctx.config.deployments if args.all else (ctx.config.deployment(args.deployment),)
    env = open_env(ctx)
    code = 0
    try:
        for dep in deployments:
            result = export(env, dep)
            code = max(code, report_run(ctx, result, describe(dep.name, result.outcome,
                                                            result.summary.get("room_export"))))
    finally:
        env.close()
    return code


def describe(name: str, outcome: str | None, info: dict[str, Any] | None) -> list[str]:
    lines = [f"{name}: export {outcome}"]
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
