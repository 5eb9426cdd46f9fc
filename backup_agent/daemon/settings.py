"""``[daemon]``, ``[alerts]`` and ``[deployments.schedule]``, validated when agent.toml loads.

A schedule is a 5-field cron expression (UTC) or ``@every <duration>``; ``off`` disables a
job. Deployments that give no schedule for a job get :data:`DEFAULT_SCHEDULE`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from backup_agent.daemon.web_settings import WEB_KEYS, WebSettings, parse_web
from backup_agent.duration import parse_duration
from backup_agent.errors import ConfigError
from backup_agent.retention.settings import RetentionSettings, parse_retention

JOBS = ("backup", "export", "retention", "verify", "watch", "audit")
#: Jobs that write restore points: never two of them at once for one deployment.
WRITERS = frozenset({"backup", "export", "retention"})
#: Jobs that queue behind the writers in the daemon: verify too, or it would re-hash a point
#: retention is removing and report it broken.
SERIALISED = WRITERS | {"verify"}
DEFAULT_SCHEDULE = {
    "backup": "15 1 * * *",     # daily
    "export": "@every 6h",
    "retention": "45 2 * * *",  # daily, after the backup
    "verify": "30 3 * * 0",     # weekly
    "watch": "@every 5m",
    "audit": "@every 1h",
}
DEFAULT_LISTEN = "127.0.0.1:9464"


@dataclass(frozen=True)
class Schedule:
    job: str
    expr: str
    source: str  # "default" or the key it was written at
    every: timedelta | None = None  # for @every; None for cron

    @property
    def off(self) -> bool:
        return self.expr == "off"


@dataclass(frozen=True)
class DaemonSettings:
    host: str = "127.0.0.1"
    port: int = 9464
    grace_seconds: float = 60.0
    web: WebSettings = field(default_factory=WebSettings)  # tokens, auth, TLS: web_settings.py

    @property
    def listen(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class AlertSettings:
    urls: tuple[str, ...] = ()
    stale_after: timedelta | None = None  # default: twice the backup interval + 2 h
    timeout: float = 10.0
    retries: int = 3
    critical_hours: float = 72.0

    @property
    def enabled(self) -> bool:
        return bool(self.urls)


@dataclass(frozen=True)
class ServiceSettings:
    daemon: DaemonSettings = field(default_factory=DaemonSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    schedules: Mapping[str, tuple[Schedule, ...]] = field(default_factory=dict)


def parse_schedule(job: str, expr: Any, where: str) -> Schedule:
    if not isinstance(expr, str):
        raise ConfigError(f"{where}: expected a cron expression or \"@every <duration>\" string")
    text = " ".join(expr.split())
    if text == "off":
        return Schedule(job, "off", where)
    if text.startswith("@every"):
        return Schedule(job, text, where, every=parse_duration(text[len("@every"):], where))
    if len(text.split(" ")) != 5:
        raise ConfigError(f"{where}: {expr!r} is not a 5-field cron expression (minute hour day "
                          "month weekday) nor \"@every <duration>\" nor \"off\"")
    from apscheduler.triggers.cron import CronTrigger  # only when someone writes a cron

    try:
        CronTrigger.from_crontab(text, timezone="UTC")
    except ValueError as exc:
        raise ConfigError(f"{where}: {expr!r} is not a valid cron expression ({exc})") from None
    return Schedule(job, text, where)


def _schedules(name: str, raw: Any) -> tuple[Schedule, ...]:
    where = f"deployments.{name}.schedule"
    raw = {} if raw is None else raw
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: must be a table")
    for key in raw:
        if key not in JOBS:
            raise ConfigError(f"{where}: unknown job {key!r} (known: {', '.join(JOBS)})")
    out = []
    for job in JOBS:
        if job in raw:
            out.append(parse_schedule(job, raw[job], f"{where}.{job}"))
        else:
            text = DEFAULT_SCHEDULE[job]
            every = parse_duration(text[6:], job) if text.startswith("@every") else None
            out.append(Schedule(job, text, "default", every=every))
    return tuple(out)


def _daemon(raw: Any, base: Path | None) -> DaemonSettings:
    raw = _table("daemon", raw, {"listen", "grace_seconds", *WEB_KEYS})
    listen = raw.get("listen", DEFAULT_LISTEN)
    host, sep, port = str(listen).rpartition(":") if isinstance(listen, str) else ("", "", "")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"daemon.listen: {listen!r} is not HOST:PORT (like {DEFAULT_LISTEN})")
    grace = raw.get("grace_seconds", 60)
    if not isinstance(grace, int | float) or isinstance(grace, bool) or not 0 <= grace <= 3600:
        raise ConfigError(f"daemon.grace_seconds: expected seconds from 0 to 3600, got {grace!r}")
    host = host.strip("[]")
    return DaemonSettings(host=host, port=int(port), grace_seconds=float(grace),
                          web=parse_web(raw, host, base))


def _alerts(raw: Any, base: Path | None) -> AlertSettings:
    raw = _table("alerts", raw, {"urls", "urls_file", "stale_after", "timeout", "retries",
                                 "critical_hours"})
    urls = raw.get("urls", [])
    if not isinstance(urls, list) or not all(isinstance(u, str) and "://" in u for u in urls):
        raise ConfigError("alerts.urls: expected a list of apprise URLs (like \"json://host/path\")")
    if "urls_file" in raw:
        urls = [*urls, *_urls_file(raw["urls_file"], base)]
    stale = raw.get("stale_after")
    timeout = raw.get("timeout", 10)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not 0.1 <= timeout <= 300:
        raise ConfigError(f"alerts.timeout: expected seconds from 0.1 to 300, got {timeout!r}")
    retries = raw.get("retries", 3)
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 10:
        raise ConfigError(f"alerts.retries: expected 0 to 10, got {retries!r}")
    critical = raw.get("critical_hours", 72)
    if not isinstance(critical, int | float) or isinstance(critical, bool) or critical <= 0:
        raise ConfigError(f"alerts.critical_hours: expected hours above 0, got {critical!r}")
    return AlertSettings(
        urls=tuple(urls), timeout=float(timeout), retries=retries, critical_hours=float(critical),
        stale_after=parse_duration(stale, "alerts.stale_after") if stale is not None else None)


def _urls_file(name: Any, base: Path | None) -> list[str]:
    """Apprise URLs hold tokens: a secret file, one URL a line, as containers mount them."""
    if not isinstance(name, str):
        raise ConfigError("alerts.urls_file: expected a file path")
    path = Path(name).expanduser()
    if base is not None and not path.is_absolute():
        path = base / path
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"alerts.urls_file: cannot read {path}: {exc.strerror}") from None
    urls = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not all("://" in u for u in urls):
        raise ConfigError(f"alerts.urls_file: {path} holds a line that is not an apprise URL")
    return urls


def _table(where: str, raw: Any, allowed: set[str]) -> Mapping[str, Any]:
    raw = {} if raw is None else raw
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: must be a table")
    for key in raw:
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(allowed))})")
    return raw


def parse_service(data: Mapping[str, Any], deployments: Sequence[Mapping[str, Any]],
                  base: Path | None = None) -> ServiceSettings:
    """The service tables of a parsed agent.toml; ``deployments`` are its raw tables, named;
    ``base`` the directory relative file names are read from (agent.toml's)."""
    named = [(str(d["name"]), d) for d in deployments]
    return ServiceSettings(
        daemon=_daemon(data.get("daemon"), base),
        alerts=_alerts(data.get("alerts"), base),
        retention=parse_retention(data.get("retention"),
                                  {n: d["retention"] for n, d in named if "retention" in d}),
        schedules={n: _schedules(n, d.get("schedule")) for n, d in named},
    )
