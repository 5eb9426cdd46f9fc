"""``backup-agent verify``: re-hash every stored file against the catalog."""

from __future__ import annotations

import argparse
from typing import Any

from backup_agent.catalog import open_catalog
from backup_agent.cli.common import Context, add_json
from backup_agent.errors import EXIT_FAILED, EXIT_OK, UsageError
from backup_agent.store import open_store


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
    cfg = ctx.config
    if args.deployment:
        cfg.deployment(args.deployment)  # an unknown name is an error, not "0 of 0 verified"
    if args.store:
        from backup_agent.cli.verify_copies import run_copies

        return run_copies(args, ctx)
    if args.read_data or args.subset:
        raise UsageError("--read-data and --subset go with --store NAME (the local store is "
                         "always read in full)")
    catalog, store = open_catalog(cfg.catalog_path), open_store(cfg.store_path)
    results: list[dict[str, Any]] = []
    try:
        for rp in catalog.restore_points(args.deployment):
            problems = [f"{f.name}: {p}" for f in rp.files
                        if (p := store.check(f.key, f.size, f.sha256))]
            if bool(problems) == rp.verified:  # record only a change of state
                catalog.set_verified(rp.id, not problems)
            results.append({"id": rp.id, "kind": rp.kind, "ok": not problems, "problems": problems})
    finally:
        catalog.close()
    bad = [r for r in results if not r["ok"]]

    def text() -> str:
        lines = [f"{r['id']}: {'ok' if r['ok'] else 'BAD: ' + '; '.join(r['problems'])}"
                 for r in results]
        lines.append(f"{len(results) - len(bad)} of {len(results)} restore points verified")
        return "\n".join(lines)

    ctx.emit(results, text)
    return EXIT_FAILED if bad else EXIT_OK
