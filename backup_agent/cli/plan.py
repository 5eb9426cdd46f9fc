"""``backup-agent plan``: ranked restore paths and the autonomy clock for a failure.

``--evidence FILE`` replays a situation from an evidence JSON file and needs no configuration.
Live mode (``--deployment D [--failed management|NODE ...] [--down-since TIME]``) builds the
evidence from the catalog and live probes through ``backup_agent.jobs.evidence``; with nothing
declared, the probes alone say what failed (rooms deleted by mistake: ``import-rooms``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from backup_agent.cli.common import (
    Context,
    add_deployment,
    add_failure_args,
    add_json,
    down_since_of,
    open_env,
)
from backup_agent.errors import EvidenceError, StoreError, UsageError
from backup_agent.privfiles import read_bounded, write_private
from backup_agent.untrusted import untrusted_json

EVIDENCE_LIMIT = 64 << 20


def register(subparsers: Any) -> None:
    """Add the ``plan`` command."""
    parser = subparsers.add_parser(
        "plan", help="ranked restore paths and the autonomy clock for a failure",
        description="Plan a recovery: which restore path, what is lost, how long, and how long "
                    "the Conferencing Nodes can still run on their own.")
    parser.add_argument("--evidence", metavar="FILE",
                        help="plan from an evidence JSON file (no configuration needed)")
    add_deployment(parser)
    add_failure_args(parser)
    add_json(parser)
    parser.add_argument("--markdown", metavar="FILE", help="also write the runbook to FILE")
    parser.set_defaults(func=run)


def read_evidence(path: str) -> dict[str, Any]:
    """Decode an evidence file; every failure is one ``EvidenceError`` line."""
    try:
        text = read_bounded(path, EVIDENCE_LIMIT).decode("utf-8")
    except FileNotFoundError:
        raise EvidenceError(f"{path}: no such evidence file") from None
    except OSError as exc:
        raise EvidenceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:  # not UTF-8, or a NUL in the name
        raise EvidenceError(f"{path!r}: cannot read: {str(exc)[:120]}") from None
    try:
        data = untrusted_json(text)
    except json.JSONDecodeError as exc:
        raise EvidenceError(f"{path}: not JSON: {exc.msg} at line {exc.lineno} "
                            f"column {exc.colno}") from None
    except ValueError as exc:
        raise EvidenceError(f"{path}: not usable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise EvidenceError(f"{path}: evidence must be a JSON object")
    return data


def live_evidence(args: argparse.Namespace, ctx: Context) -> dict[str, Any]:
    """Build evidence from the catalog and probes (the service layer owns that)."""
    # Nothing declared is a plan too: the probes find what is lost (rooms deleted by mistake,
    # a Management Node that does not answer); --failed has no value for lost rooms.
    down_since = down_since_of(args)
    from backup_agent.service.evidence import build_evidence

    with open_env(ctx) as env:
        return build_evidence(env, args.deployment, list(args.failed), down_since)


def run(args: argparse.Namespace, ctx: Context) -> int:
    """Plan, print the runbook (or JSON), optionally write the Markdown runbook to a file."""
    if args.evidence and (args.failed or args.down_since or args.deployment):
        raise UsageError("--evidence FILE replays a situation: drop --deployment, --failed and "
                         "--down-since")
    from backup_agent.service.evidence import plan_document

    data, markdown = plan_document(read_evidence(args.evidence) if args.evidence
                                   else live_evidence(args, ctx))
    if args.markdown:
        try:
            write_private(Path(args.markdown), markdown.encode("utf-8"))
        except StoreError as exc:
            raise UsageError(f"--markdown {args.markdown}: {exc}") from None
    ctx.emit(data, markdown)
    return 0
