"""``backup-agent catalog rebuild --from NAME``: rebuild the catalog from an off-site store."""

from __future__ import annotations

import argparse
from typing import Any

from backup_agent.cli.common import Context, add_json, open_env
from backup_agent.errors import EXIT_OK, EXIT_PARTIAL


def register(sub: Any) -> None:
    p = sub.add_parser("catalog", help="maintain the catalog (rebuild it from an off-site store)")
    csub = p.add_subparsers(dest="catalog_command", metavar="ACTION", required=True)
    r = csub.add_parser("rebuild", help="add every restore point an off-site store describes")
    r.add_argument("--from", dest="source", metavar="NAME", required=True,
                   help="the [[storage.copies]] store to read the manifests from")
    add_json(r)
    r.set_defaults(func=run_rebuild)


def run_rebuild(args: argparse.Namespace, ctx: Context) -> int:
    from backup_agent.jobs.rebuild import rebuild
    from backup_agent.store import open_copy_store

    target = ctx.config.copy(args.source)
    env = open_env(ctx)
    try:
        result = rebuild(env, target.name, open_copy_store(target))
    finally:
        env.close()

    def text() -> str:
        lines = [f"{target.name}: {len(result['added'])} restore point(s) added, "
                 f"{len(result['kept'])} already in the catalog"]
        lines += [f"  unreadable: {b['key']}: {b['problem']}" for b in result["unreadable"]]
        return "\n".join(lines)

    ctx.emit(result, text)
    return EXIT_PARTIAL if result["unreadable"] else EXIT_OK
