"""``backup-agent run``: the agent as a service (schedules, retention, metrics, alerts)."""

from __future__ import annotations

import argparse
from typing import Any

from backup_agent.cli.common import Context


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run as a service: scheduled jobs, /healthz /readyz /metrics, "
                                   "alerts (SIGTERM stops, SIGHUP reloads the configuration)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    from backup_agent.daemon.scheduler import Daemon

    return Daemon(ctx.config).serve()
