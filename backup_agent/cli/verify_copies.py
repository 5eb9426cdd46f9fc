"""``backup-agent verify --store NAME``: read the off-site copies back (helper of cli/verify.py)."""

from __future__ import annotations

import argparse
from typing import Any

from backup_agent.cli.common import Context, open_env
from backup_agent.errors import EXIT_FAILED, EXIT_OK, UsageError


def run_copies(args: argparse.Namespace, ctx: Context) -> int:
    from backup_agent.service.copy_verify import parse_subset, verify_copies
    from backup_agent.store import open_copy_store

    target = ctx.config.copy(args.store)
    subset = None
    if args.subset:
        try:
            subset = parse_subset(args.subset)
        except ValueError:
            raise UsageError(f"--subset {args.subset!r}: give a share like 10% (more than 0, "
                             "at most 100%)") from None
    env = open_env(ctx)
    try:
        results = verify_copies(env, target.name, open_copy_store(target), args.read_data, subset,
                                deployment=args.deployment)
    finally:
        env.close()
    bad = [r for r in results if not r["ok"]]

    def text() -> str:
        lines: list[str] = [f"{r['location']}: {r['problem']}" for r in bad]
        how = "read and hashed" if args.read_data else "present with their size"
        lines.append(f"{len(results) - len(bad)} of {len(results)} objects in {target.name} {how}")
        return "\n".join(lines)

    out: Any = results
    ctx.emit(out, text)
    return EXIT_FAILED if bad else EXIT_OK
