"""What the web app needs of the daemon, as one object: ``request.app.state.web``.

Everything is read through a callable, so a SIGHUP reload (a new Config and Env) is seen by
the next request without the app being rebuilt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from backup_agent.config import Config
from backup_agent.jobs.env import Env, utcnow
from backup_agent.web.ratelimit import Failures
from backup_agent.web.sessions import Sessions

Check = Callable[[], tuple[bool, dict[str, Any]]]
#: Jobs an operator may start from the API or a page.
TRIGGERS = ("backup", "export", "checkpoint")


class Busy(Exception):
    """A writer of the deployment runs (or is queued) already: its run id."""

    def __init__(self, run_id: str | None) -> None:
        super().__init__(f"a run of this deployment is in progress: {run_id}")
        self.run_id = run_id


@dataclass(frozen=True)
class Alert:
    deployment: str
    key: str
    state: str


@dataclass
class WebState:
    """The daemon's side of the web app.

    ``trigger(deployment, job, actor)`` queues ``job`` (one of :data:`TRIGGERS`) in the
    daemon's executor and returns its run id, whose catalog row exists already (outcome
    None); it raises :class:`Busy` when a writer of the deployment runs.
    """

    get_config: Callable[[], Config]
    env: Callable[[], Env]
    alerts: Callable[[], list[Alert]]
    trigger: Callable[[str, str, str], str]
    health: Check
    ready: Check
    metrics: Callable[[], bytes]
    now: Callable[[], datetime] = utcnow
    tls: bool = False  # cookies are Secure: TLS here, or [daemon] secure_cookie behind a proxy
    sessions: Sessions = field(default_factory=Sessions)
    failures: Failures = field(default_factory=Failures)  # wrong tokens, per client address
    extra: dict[str, Any] = field(default_factory=dict)  # room for the console's caches

    @property
    def config(self) -> Config:
        return self.get_config()
