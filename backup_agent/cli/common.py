"""What every command shares: the context (config, catalog), JSON output, confirmations."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from backup_agent import config as config_mod
from backup_agent.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from backup_agent.catalog import Run
    from backup_agent.jobs.env import Env

DEFAULT_CONFIG = "agent.toml"


def whole_number(minimum: int = 0, maximum: int = 10**9) -> Callable[[str], int]:
    """An argparse type: a whole number in [minimum, maximum] (a bad one is exit 2)."""
    def parse(text: str) -> int:
        stripped = text.strip()
        if not stripped.lstrip("-").isdigit() or len(stripped) > 12:
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a whole number")
        value = int(stripped)
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"{value} is not between {minimum} and {maximum}")
        return value
    parse.__name__ = "whole number"  # argparse names the type in its message
    return parse


def amount(text: str) -> float:
    """An argparse type: a finite number, zero or more (``nan``, ``inf`` and -1 are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number") from None
    if not 0 <= value < 1e9:  # false for nan too
        raise argparse.ArgumentTypeError(f"{text[:40]} must be a finite number, zero or more")
    return value


class Context:
    """Per-invocation state, built lazily so ``plan --evidence`` needs no configuration."""

    def __init__(self, args: argparse.Namespace, out: TextIO | None = None, *,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.args = args
        self.out = out or sys.stdout
        self.sleep = sleep  # between the clients' retries: a no-op in tests

    @cached_property
    def config(self) -> config_mod.Config:
        path = getattr(self.args, "config", None) or DEFAULT_CONFIG
        if not Path(path).exists() and getattr(self.args, "config", None) is None:
            raise ConfigError(f"no {DEFAULT_CONFIG} in the current directory (pass --config FILE)")
        cfg = config_mod.load(path)
        # The agent's log is the process's, set up once the configuration says where it goes.
        from backup_agent.jobs.env import log_path
        from backup_agent.logsetup import use_file_log

        if cfg.storage_path.is_dir() or not cfg.storage_path.exists():
            use_file_log(log_path(cfg))  # else opening the catalog says what is wrong, once
        return cfg

    def emit(self, data: Any, text: Callable[[], str] | str | None = None) -> None:
        """Print ``data`` as JSON under ``--json``, else the human ``text``."""
        if getattr(self.args, "json", False) or text is None:
            if _records(data):  # written a thousand at a time, not made into one string first
                for piece in _record_pieces(data):
                    self.out.write(piece)
                self.out.write("\n")
            else:
                self.out.write(to_json(data) + "\n")
        else:
            self.out.write((text() if callable(text) else text).rstrip("\n") + "\n")
        self.out.flush()

    def confirm(self, question: str) -> None:
        """Ask before a change unless ``--yes``; refuse when nobody can answer."""
        if getattr(self.args, "yes", False):
            return
        if not sys.stdin.isatty():
            raise UsageError(f"{question} — not confirmed (no terminal): pass --yes")
        answer = input(f"{question} [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            raise UsageError("not confirmed; nothing was changed")


def _record_encoder() -> Callable[[Any], str]:
    """``json.dumps(record, default=str)`` as one C encoder made once (10,000 records: the
    encoder made per record cost a third of the encoding); the records hold no cycles."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the plain encoder
        return json.JSONEncoder(default=str).encode
    one = make(None, str, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True)
    return lambda record: "".join(one(record, 0))


def to_json(data: Any) -> str:
    """``--json``'s text: indented, except that a list of records has one record per line
    (10,000 restore points: json's indenting encoder is pure Python and took over a second;
    the compact one is C, and a line per record is what ``jq``, ``grep`` and people read)."""
    if _records(data):
        return "".join(_record_pieces(data))
    return json.dumps(data, indent=2, sort_keys=False, default=str)


def _records(data: Any) -> bool:
    return isinstance(data, list) and bool(data) and all(isinstance(d, dict) for d in data)


def _record_pieces(records: list[dict[str, Any]], batch: int = 1000) -> Iterator[str]:
    """:func:`to_json`'s text of ``records`` in pieces of ``batch`` records: ``list --json``
    at 100,000 points held its 57 MB of text twice over (the lines, then their join)."""
    encode = _record_encoder()
    for start in range(0, len(records), batch):
        lines = ",\n  ".join(map(encode, records[start:start + batch]))
        yield ("[\n  " if start == 0 else ",\n  ") + lines
    yield "\n]"


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def add_deployment(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--deployment", "-d", metavar="NAME",
                        help="deployment name (default: the only one configured)")


def open_env(ctx: Context) -> Env:
    """The job environment for this invocation: catalog, store, progress on a terminal."""
    from backup_agent.cli.progress import factory
    from backup_agent.jobs.env import Env

    return Env.open(ctx.config, progress=factory(), sleep=ctx.sleep)


def run_exit_code(run: Run) -> int:
    """completed → 0, partially_failed → 3, failed → 1."""
    from backup_agent.service.fanout import exit_code

    return exit_code(run)


def combined_exit_code(codes: list[int]) -> int:
    """See :func:`backup_agent.service.fanout.combined_exit_code`."""
    from backup_agent.service.fanout import combined_exit_code as combined

    return combined(codes)


def report_run(ctx: Context, run: Run, lines: list[str]) -> int:
    """Print a run (JSON or text); failures go to stderr one line each. Returns the exit code."""
    ctx.emit(run.to_dict(), lambda: "\n".join(lines))
    _report_failures(run)
    return run_exit_code(run)


def _report_failures(run: Run) -> None:
    for item, reason in run.failures():
        sys.stderr.write(f"backup-agent: {run.job} {run.deployment}: {item} failed: {reason}\n")


def add_job_args(parser: argparse.ArgumentParser) -> None:
    """``--deployment``, ``--all`` and ``--json``: what every job command takes."""
    add_deployment(parser)
    parser.add_argument("--all", action="store_true", help="every configured deployment")
    add_json(parser)


def run_job_command(ctx: Context, args: argparse.Namespace, job: Callable[[Env, Any], Run],
                    describe: Callable[[str, Run], list[str]]) -> int:
    """Run ``job`` for the chosen deployments and render each one's outcome.

    The fan-out is the service layer's (:func:`backup_agent.service.fanout.run_each`): under
    ``--all`` one deployment's error (a missing secret, a held lock) is reported on its own
    line and the others still run; ``--json`` prints one array of their outcomes.
    """
    from backup_agent.service.fanout import Outcome, run_each

    cfg = ctx.config
    if not args.all:
        dep = cfg.deployment(args.deployment)
        with open_env(ctx) as env:
            run = job(env, dep)
        return report_run(ctx, run, describe(dep.name, run))
    if args.deployment:
        raise UsageError("pass --deployment NAME or --all, not both")
    as_json = getattr(args, "json", False)

    def show(outcome: Outcome) -> None:
        if outcome.error is not None:
            sys.stderr.write(f"backup-agent: {outcome.deployment}: {outcome.error.for_cli()}\n")
        elif outcome.run is not None and as_json:
            _report_failures(outcome.run)
        elif outcome.run is not None:
            report_run(ctx, outcome.run, describe(outcome.deployment, outcome.run))

    with open_env(ctx) as env:
        outcomes = run_each(env, cfg.deployments, job, show)
    if as_json:
        ctx.emit([o.to_dict() for o in outcomes])
    return combined_exit_code([o.exit_code for o in outcomes])


def add_failure_args(parser: argparse.ArgumentParser) -> None:
    """``--failed`` and ``--down-since``: what the user declares about an outage."""
    parser.add_argument("--failed", action="append", default=[], metavar="management|NODE",
                        help="a lost node (repeatable); 'management' is the Management Node")
    parser.add_argument("--down-since", metavar="TIME",
                        help="when the failure began, ISO 8601 with a timezone "
                             "(default: the agent's last contact)")


def down_since_of(args: argparse.Namespace) -> datetime | None:
    """``--down-since`` parsed; a bad timestamp is a usage error."""
    from backup_agent.errors import EvidenceError
    from backup_agent.planner.evidence import parse_time

    if not getattr(args, "down_since", None):
        return None
    try:
        return parse_time(args.down_since, "--down-since")
    except EvidenceError as exc:
        raise UsageError(str(exc)) from None
