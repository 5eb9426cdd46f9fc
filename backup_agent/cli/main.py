"""Entry point: build the parser from the command modules, run one, map errors to exit codes."""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from backup_agent import __version__
from backup_agent.cli.common import Context
from backup_agent.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, AgentError, Terminated
from backup_agent.logformat import UTCFormatter

log = logging.getLogger("backup_agent")
NOT_COMMANDS = {"main", "common"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"backup-agent: error: {message}\n")
        sys.exit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="backup-agent",
        description="Keeps Pexip Infinity deployments recoverable.",
        epilog="exit codes: 0 ok, 1 failed, 2 usage or configuration error, "
        "3 partially failed, 4 not ready",
    )
    parser.add_argument("--config", "-c", metavar="FILE", help="agent.toml (default: ./agent.toml)")
    parser.add_argument("--verbose", "-v", action="count", default=0, help="more logging on stderr")
    parser.add_argument("--version", action="version", version=f"backup-agent {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    import backup_agent.cli as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name in NOT_COMMANDS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"backup_agent.cli.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


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
    level = logging.WARNING - 10 * min(verbose, 2) if verbose else logging.INFO
    handler = _StderrHandler()
    handler.setFormatter(UTCFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries are chatty at INFO; keep them to warnings unless -vv.
    for noisy in ("urllib3", "paramiko", "botocore", "azure", "google", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` in the main thread while a command runs (borg's way),
    so every run frame ends ``interrupted`` on it as on Ctrl-C. Installed once, here; the
    previous handler comes back after (a test runner, or an embedding daemon, keeps its own).
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only: nothing to install from another one
        return

    def raise_terminated(signum: int, frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None, *, sleep: Callable[[float], None] = time.sleep) -> int:
    """Run one command; its exit code. ``sleep`` is what clients wait between retries with."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    setup_logging(args.verbose)
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
