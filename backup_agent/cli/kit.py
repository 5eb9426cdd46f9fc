"""``backup-agent kit --checkpoint ID --out FILE``: the break-glass kit, encrypted and proven."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from backup_agent.cli.common import Context, add_deployment, add_json, open_env


def register(sub: Any) -> None:
    p = sub.add_parser("kit", help="write an encrypted break-glass kit (backup, rooms, inventory, "
                                   "runbook)")
    p.add_argument("--checkpoint", metavar="ID", required=True,
                   help="the config backup to build the kit around (see `backup-agent list`)")
    p.add_argument("--out", metavar="FILE", required=True, help="where to write the kit (age)")
    add_deployment(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    from backup_agent.jobs.kit import make_kit

    dep = ctx.config.deployment(args.deployment)
    env = open_env(ctx)
    try:
        result = make_kit(env, dep, args.checkpoint, Path(args.out))
    finally:
        env.close()

    def text() -> str:
        return (f"{result['kit']}: {len(result['files'])} files, {result['bytes']:,} bytes, "
                f"decrypts with the configured identity\n  open with: age -d -i IDENTITY "
                f"{result['kit']} | tar x")

    ctx.emit(result, text)
    return 0
