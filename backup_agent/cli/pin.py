"""``backup-agent pin ID`` / ``unpin ID``: protect a restore point from retention, or stop."""

from __future__ import annotations

import argparse
from typing import Any

from backup_agent.cli.common import Context, add_json, open_env


def register(sub: Any) -> None:
    for name, text in (("pin", "protect a restore point from retention"),
                       ("unpin", "let retention decide about a pinned restore point again")):
        p = sub.add_parser(name, help=text)
        p.add_argument("id", metavar="ID", help="restore point id (see `backup-agent list`)")
        add_json(p)
        p.set_defaults(func=run, pinned=name == "pin")


def run(args: argparse.Namespace, ctx: Context) -> int:
    env = open_env(ctx)
    try:
        rp = env.catalog.restore_point(args.id)  # an unknown id: one line, exit 1
        env.catalog.update_data(rp.id, pinned=args.pinned)
    finally:
        env.close()
    ctx.emit({"id": rp.id, "kind": rp.kind, "pinned": args.pinned},
             f"{rp.id}: {'pinned: retention keeps it' if args.pinned else 'unpinned'}")
    return 0
