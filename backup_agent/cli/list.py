"""``backup-agent list``: restore points in the catalog, newest first."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from backup_agent.catalog import KINDS, RestorePoint, iso
from backup_agent.cli.common import Context, add_json, open_env


def register(sub: Any) -> None:
    p = sub.add_parser("list", help="restore points in the catalog")
    p.add_argument("--deployment", "-d", metavar="NAME", help="only this deployment")
    p.add_argument("--kind", choices=KINDS, help="only this kind")
    add_json(p)
    p.set_defaults(func=run)


def row(rp: RestorePoint, locate: Callable[[str], str]) -> dict[str, Any]:
    """``list --json``'s record: ``verify_failed`` is null, or when ``verify`` failed and why."""
    data = rp.to_dict(locate)
    data.setdefault("verify_failed", None)
    return data


def verify_state(rp: RestorePoint) -> str:
    """The VERIFY column: ``ok`` while every check passed, ``FAILED`` once one did not."""
    return "ok" if rp.verified else "FAILED"


def run(args: argparse.Namespace, ctx: Context) -> int:
    cfg = ctx.config
    if args.deployment:
        cfg.deployment(args.deployment)  # an unknown name is an error, not an empty list
    from backup_agent.jobs.copy_retention import copies_text, copies_view

    env = open_env(ctx)
    try:
        points = env.catalog.restore_points(args.deployment, args.kind)
        copies = copies_view(env, points) if cfg.copies else {}
        # The JSON records only for --json: the text needs no file locations.
        data = ([{**row(rp, env.store.location), **({"copies": copies.get(rp.id, [])}
                                                   if cfg.copies else {})} for rp in points]
                if args.json else points)
    finally:
        env.close()

    def text() -> str:
        if not points:
            return "no restore points yet (run `backup-agent backup` or `export`)"
        rows = [f"{'ID':34} {'KIND':14} {'DEPLOYMENT':12} {'TAKEN':21} {'VERSION':8} {'VERIFY':7} SIZE"
                + ("  COPIES" if cfg.copies else "")]
        for rp in points:
            size = f"{sum(f.size for f in rp.files):,}"
            if rp.data.get("local_bytes_removed"):
                size = "off-site only"
            rows.append(f"{rp.id:34} {rp.kind:14} {rp.deployment:12} {iso(rp.taken_at):21} "
                        f"{rp.version or '-':8} {verify_state(rp):7} {size}"
                        + (f"  {copies_text(copies.get(rp.id, []))}" if cfg.copies else ""))
        return "\n".join(rows)

    ctx.emit(data, text)
    return 0
