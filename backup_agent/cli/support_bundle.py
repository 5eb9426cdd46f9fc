"""``backup-agent support-bundle``: one archive for a Pexip support ticket, secrets stripped."""

from __future__ import annotations

import argparse
from pathlib import Path
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
from backup_agent.errors import StoreError, UsageError
from backup_agent.privfiles import check_target


def register(sub: Any) -> None:
    p = sub.add_parser("support-bundle", help="evidence, plan, journal, logs and Pexip's "
                       "diagnostic bundle in one archive for a support ticket")
    add_deployment(p)
    p.add_argument("--out", required=True, metavar="FILE", help="the .tar.gz to write")
    add_failure_args(p)
    p.add_argument("--hours", type=whole_number(1, 24 * 366), default=24,
                   help="hours of Pexip logs to ask for (24)")
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    from backup_agent.jobs.support import build
    down_since = down_since_of(args)
    if not Path(args.out).resolve().parent.is_dir():
        raise UsageError(f"--out {args.out}: its directory does not exist")
    try:
        check_target(Path(args.out))
    except StoreError:
        raise UsageError(f"--out {args.out}: exists and is not a regular file") from None
    env = open_env(ctx)
    try:
        manifest = build(env, ctx.config.deployment(args.deployment), Path(args.out),
                         args.failed, down_since, args.hours)
    finally:
        env.close()
    text = [f"wrote {args.out}: {', '.join(manifest['members'])}"]
    text += [f"  note: {n}" for n in manifest["notes"]]
    ctx.emit(manifest, "\n".join(text))
    return 0
