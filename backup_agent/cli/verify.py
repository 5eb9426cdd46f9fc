"""``backup-agent verify``: re-hash every stored file against the catalog."""

from __future__ import annotations

import argparse
from typing import Any

from backup_agent.catalog import open_catalog
from backup_agent.cli.common import Context, add_json
from backup_agent.errors import EXIT_FAILED, EXIT_OK
from backup_agent.store import open_store


def register(sub: Any) -> None:
    p = sub.add_parser("verify", help="re-hash every stored file against the catalog")
    p.add_argument("--deployment", "-d", metavar="NAME", help="only this deployment")
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    cfg = ctx.config
    if args.deployment:
        cfg.deployment(args.deployment)  # an unknown name is an error, not "0 of 0 verified"
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
