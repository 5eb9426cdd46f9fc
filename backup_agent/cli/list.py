"""``backup-agent list``: restore points in the catalog, newest first."""

from __future__ import annotations

import argparse
from typing import Any

from backup_agent.catalog import KINDS, iso, open_catalog
from backup_agent.cli.common import Context, add_json
from backup_agent.store import open_store


def register(sub: Any) -> None:
    p = sub.add_parser("list", help="restore points in the catalog")
    p.add_argument("--deployment", "-d", metavar="NAME", help="only this deployment")
    p.add_argument("--kind", choices=KINDS, help="only this kind")
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    cfg = ctx.config
    if args.deployment:
        cfg.deployment(args.deployment)  # an unknown name is an error, not an empty list
    catalog = open_catalog(cfg.catalog_path)
    try:
        points = catalog.restore_points(args.deployment, args.kind)
    finally:
        catalog.close()
    locate = open_store(cfg.store_path).location
    data = [rp.to_dict(locate) for rp in points]

    def text() -> str:
        if not points:
            return "no restore points yet (run `backup-agent backup` or `export`)"
        rows = [f"{'ID':34} {'KIND':14} {'DEPLOYMENT':12} {'TAKEN':21} {'VERSION':8} SIZE"]
        for rp in points:
            size = sum(f.size for f in rp.files)
            rows.append(f"{rp.id:34} {rp.kind:14} {rp.deployment:12} {iso(rp.taken_at):21} "
                        f"{rp.version or '-':8} {size:,}")
        return "\n".join(rows)

    ctx.emit(data, text)
    return 0
