"""``backup-agent verify``: re-hash every stored file against the catalog (the service does)."""

from __future__ import annotations

import argparse
from typing import Any

from backup_agent.cli.common import Context, add_json, open_env
from backup_agent.errors import EXIT_FAILED, EXIT_OK, UsageError


def register(sub: Any) -> None:
    p = sub.add_parser("verify", help="re-hash every stored file against the catalog")
    p.add_argument("--deployment", "-d", metavar="NAME", help="only this deployment")
    p.add_argument("--store", metavar="NAME", help="check the copies in this [[storage.copies]] store")
    p.add_argument("--read-data", action="store_true",
                   help="with --store: read and hash every object (default: size and presence)")
    p.add_argument("--subset", metavar="PERCENT", help="with --store: a random share, e.g. 10%%")
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    from backup_agent.jobs import orphans
    from backup_agent.service.verify import verify

    if args.store:
        from backup_agent.cli.verify_copies import run_copies

        return run_copies(args, ctx)
    if args.read_data or args.subset:
        raise UsageError("--read-data and --subset go with --store NAME (the local store is "
                         "always read in full)")
    env = open_env(ctx)
    try:
        results = verify(env, args.deployment)
        names = [args.deployment] if args.deployment else [d.name for d in ctx.config.deployments]
        strays = [o for name in names for o in (*orphans.find(env, name),
                                                *orphans.temporaries(env, name))]
    finally:
        env.close()
    bad = [r for r in results if not r.ok]

    def text() -> str:
        lines = [f"{r.id}: {'ok' if r.ok else 'BAD: ' + '; '.join(r.problems)}" for r in results]
        lines += [f"orphan: {o.key} ({o.size} bytes) is stored but in no restore point; the "
                  "next backup or export removes it" for o in strays]
        lines.append(f"{len(results) - len(bad)} of {len(results)} restore points verified")
        return "\n".join(lines)

    ctx.emit([r.to_dict() for r in results]
             + [{"orphan": o.key, "size": o.size} for o in strays], text)
    return EXIT_FAILED if bad else EXIT_OK
