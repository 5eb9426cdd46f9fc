"""Entry point: build the parser from the command modules, run one, map errors to exit codes."""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import os
import pkgutil
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from backup_agent import __version__
from backup_agent.cli.common import Context
from backup_agent.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, AgentError, Terminated
from backup_agent.logformat import UTCFormatter
from backup_agent.signals import sigterm_raises

log = logging.getLogger("backup_agent")
NOT_COMMANDS = {"main", "common"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"backup-agent: error: {message}\n")
        sys.exit(EXIT_USAGE)


def add_global_args(parser: argparse.ArgumentParser, top: bool) -> None:
    """``--config``, ``-v`` and ``--json``, accepted before and after the command.

    A command's parser leaves them unset (``SUPPRESS``) unless given there, so a flag given
    before the command is not reset by the command's own default.
    """
    unset: Any = argparse.SUPPRESS
    parser.add_argument("--config", "-c", metavar="FILE", default=None if top else unset,
                        help="agent.toml (default: ./agent.toml)")
    # A command's parser counts into its own dest: it would overwrite the count made before
    # the command (``-v list -v`` is -vv), so parse_args adds the two.
    parser.add_argument("--verbose", "-v", action="count", dest="verbose" if top else "verbose_after",
                        default=0 if top else unset,
                        help="debug logging on stderr (-vv: libraries' debug logging too)")
    if top:  # commands that print take their own --json; this one is the same flag, earlier
        parser.add_argument("--json", dest="json_before_command", action="store_true",
                            help=argparse.SUPPRESS)


class _CommandParser(_Parser):
    """The parser of a command (and of a command's verbs): it takes the global flags too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        add_global_args(self, top=False)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="backup-agent",
        description="Keeps Pexip Infinity deployments recoverable.",
        epilog="exit codes: 0 ok, 1 failed, 2 usage or configuration error, "
        "3 partially failed, 4 not ready; status: 0 healthy, 10 degraded, 11 down",
    )
    add_global_args(parser, top=True)
    parser.add_argument("--version", action="version", version=f"backup-agent {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_CommandParser)
    import backup_agent.cli as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name in NOT_COMMANDS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"backup_agent.cli.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv``; ``--json`` before the command means the command's ``--json``."""
    args = parser.parse_args(argv)
    args.verbose += getattr(args, "verbose_after", 0)
    if getattr(args, "json_before_command", False):
        args.json = True
    return args


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time, not the one at set-up.

    Threads of libraries (paramiko's transport) log after a command returns; a test harness or
    a daemon may have swapped stderr by then.
    """

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def setup_logging(verbose: int) -> None:
    """INFO by default; ``-v`` is the agent's debug, ``-vv`` the libraries' debug too."""
    level = logging.DEBUG if verbose else logging.INFO
    handler = _StderrHandler()
    handler.setFormatter(UTCFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries are chatty at INFO; keep them to warnings unless -vv.
    for noisy in ("urllib3", "paramiko", "botocore", "azure", "google", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)


def cli_actor() -> str:
    """``cli:USER`` as the catalog records a run started here (``cli`` when unknown)."""
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or ""
    return f"cli:{user[:64]}" if user and user.isprintable() and ":" not in user else "cli"


def main(argv: Sequence[str] | None = None, *, sleep: Callable[[float], None] = time.sleep) -> int:
    """Run one command; its exit code. ``sleep`` is what clients wait between retries with."""
    parser = build_parser()
    if argv is None:  # the program itself, not a caller in the same process (a test)
        # What start-up made (modules, classes, the parser) lives as long as the process:
        # frozen, the collector's full passes skip it (list --json at 10,000 points: 10%).
        gc.freeze()
    args = parse_args(parser, argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    setup_logging(args.verbose)
    from backup_agent.catalog.actor import set_actor  # not for --help: it loads sqlite3

    set_actor(cli_actor())
    try:
        with sigterm_raises():
            return int(args.func(args, Context(args, sleep=sleep)) or 0)
    except AgentError as exc:
        sys.stderr.write(f"backup-agent: {exc.for_cli()}\n")
        return exc.exit_code
    except Terminated:
        sys.stderr.write("backup-agent: terminated\n")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        sys.stderr.write("backup-agent: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_FAILED
    except Exception as exc:  # the last net: one line, the trace only with -v
        log.debug("unexpected error", exc_info=True)
        sys.stderr.write(f"backup-agent: internal error: {type(exc).__name__}: {exc} "
                         "(run with -v for details)\n")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
