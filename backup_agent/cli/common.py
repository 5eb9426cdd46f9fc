"""What every command shares: the context (config, catalog), JSON output, confirmations."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any, TextIO

from backup_agent import config as config_mod
from backup_agent.errors import ConfigError, UsageError

DEFAULT_CONFIG = "agent.toml"


class Context:
    """Per-invocation state, built lazily so ``plan --evidence`` needs no configuration."""

    def __init__(self, args: argparse.Namespace, out: TextIO | None = None) -> None:
        self.args = args
        self.out = out or sys.stdout

    @cached_property
    def config(self) -> config_mod.Config:
        path = getattr(self.args, "config", None) or DEFAULT_CONFIG
        if not Path(path).exists() and getattr(self.args, "config", None) is None:
            raise ConfigError(f"no {DEFAULT_CONFIG} in the current directory (pass --config FILE)")
        return config_mod.load(path)

    def emit(self, data: Any, text: Callable[[], str] | str | None = None) -> None:
        """Print ``data`` as JSON under ``--json``, else the human ``text``."""
        if getattr(self.args, "json", False) or text is None:
            json.dump(data, self.out, indent=2, sort_keys=False, default=str)
            self.out.write("\n")
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


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def add_deployment(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--deployment", "-d", metavar="NAME",
                        help="deployment name (default: the only one configured)")
