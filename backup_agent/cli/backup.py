"""``backup-agent backup``: create, download and verify a config backup."""

from __future__ import annotations

import argparse
from typing import Any

from backup_agent.cli.common import Context, add_deployment, add_json, open_env, report_run


def register(sub: Any) -> None:
    p = sub.add_parser("backup", help="create, download and verify a config backup")
    add_deployment(p)
    p.add_argument("--all", action="store_true", help="every configured deployment")
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    from backup_agent.jobs.backup import backup

    deployments = ctx.config.deployments if args.all else (ctx.config.deployment(args.deployment),)
    env = open_env(ctx)
    code = 0
    try:
        for dep in deployments:
            result = backup(env, dep)
            info = result.summary.get("config_backup", {})
            lines = [f"{dep.name}: backup {result.outcome}"]
            if info:
                lines.append(f"  restore point {info['id']} ({info['size']:,} bytes, "
                             f"version {info['version']})")
            code = max(code, report_run(ctx, result, lines))
    finally:
        env.close()
    return code
