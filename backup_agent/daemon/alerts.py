"""Alerts through apprise: one notification per change of state, one when it clears.

Each condition is a (deployment, key) with a state (None when all is well). A change of state
queues a notification; a worker thread sends it to every sink, each retried with backoff and
logged by its index (``json-0``), never by its URL: apprise URLs hold tokens. Sending never
runs on a job's thread, so a sink that hangs or answers 500 never delays a backup.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from backup_agent.daemon.settings import AlertSettings
from backup_agent.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notice:
    title: str
    body: str
    failure: bool


class Alerter:
    def __init__(self, settings: AlertSettings, sent: Callable[[str, bool], None] | None = None,
                 backoff: float = 1.0, state_file: Path | None = None) -> None:
        self.settings = settings
        self._sent = sent or (lambda sink, ok: None)
        self._backoff = backoff
        self._file = state_file
        self._states: dict[tuple[str, str], str | None] = self._load()
        self._lock = threading.Lock()
        self._queue: queue.Queue[Notice | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        _quiet_apprise()

    def start(self) -> None:
        if self.settings.enabled and self._worker is None:
            self._worker = threading.Thread(target=self._work, name="alerts", daemon=True)
            self._worker.start()

    def set(self, deployment: str, key: str, state: str | None, message: str) -> None:
        """Record the state of a condition; notify when it changed (fired, moved or cleared)."""
        with self._lock:
            before = self._states.get((deployment, key))
            if before == state:
                return
            self._states[(deployment, key)] = state
            self._save()
        if state is None:
            notice = Notice(f"RESOLVED {deployment}: {key}", f"{deployment}: {message}", False)
        else:
            notice = Notice(f"ALERT {deployment}: {key} {state}", f"{deployment}: {message}", True)
        log.warning("%s — %s", notice.title, notice.body)
        if self.settings.enabled:
            self._queue.put(notice)

    def firing(self) -> list[tuple[str, str, str]]:
        """The open alerts: (deployment, key, state), sorted."""
        with self._lock:
            return sorted((d, k, v) for (d, k), v in self._states.items() if v is not None)

    def _load(self) -> dict[tuple[str, str], str | None]:
        """What was firing when the daemon last stopped: a restart does not notify it again."""
        if self._file is None:
            return {}
        try:
            raw = json.loads(self._file.read_text(encoding="utf-8"))
            return {(str(d), str(k)): str(v) for d, k, v in raw["firing"]}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("alert state %s unreadable (%s): starting afresh", self._file, type(exc).__name__)
            return {}

    def _save(self) -> None:
        if self._file is None:
            return
        firing = sorted([d, k, v] for (d, k), v in self._states.items() if v is not None)
        tmp = self._file.with_name(f".{self._file.name}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"firing": firing}, fh)
            os.replace(tmp, self._file)
        except OSError as exc:
            log.warning("cannot record alert state in %s: %s", self._file, exc.strerror or exc)

    def state(self, deployment: str, key: str) -> str | None:
        return self._states.get((deployment, key))

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued within ``timeout``, then stop the worker."""
        if self._worker is None:
            return
        self._queue.put(None)
        self._worker.join(timeout)

    def _work(self) -> None:
        while (notice := self._queue.get()) is not None:
            for i, url in enumerate(self.settings.urls):
                self._send(f"{url.split(':', 1)[0]}-{i}", url, notice)

    def _send(self, sink: str, url: str, notice: Notice) -> None:
        import apprise

        attempts = self.settings.retries + 1
        for attempt in range(1, attempts + 1):
            ok = False
            try:
                box = apprise.Apprise()
                if not box.add(_with_timeouts(url, self.settings.timeout)):
                    log.error("alert sink %s: not a usable apprise URL; skipped", sink)
                    self._sent(sink, False)
                    return
                kind = apprise.NotifyType.FAILURE if notice.failure else apprise.NotifyType.SUCCESS
                ok = bool(box.notify(title=notice.title, body=notice.body, notify_type=kind))
            except Exception as exc:  # a sink plugin's bug must not kill the worker
                log.error("alert sink %s: %s", sink, type(exc).__name__)
            self._sent(sink, ok)
            if ok:
                return
            log.error("alert sink %s: sending failed (attempt %d of %d)%s", sink, attempt, attempts,
                      "; retrying" if attempt < attempts else "; given up")
            if attempt < attempts:
                time.sleep(self._backoff * 2 ** (attempt - 1))


def check_urls(urls: tuple[str, ...]) -> None:
    """Every URL is one apprise can send to; the error names its index and scheme only."""
    if not urls:
        return
    import apprise

    _quiet_apprise()
    for i, url in enumerate(urls):
        if not apprise.Apprise().add(url):
            raise ConfigError(f"alerts.urls[{i}]: not an apprise URL it can send to (scheme "
                              f"{url.split('://', 1)[0]!r}; see apprise's list of services)")


def _quiet_apprise() -> None:
    # apprise logs sink URLs (half-masked) at times; our own lines name sinks by index instead.
    logging.getLogger("apprise").setLevel(logging.CRITICAL)


def _with_timeouts(url: str, seconds: float) -> str:
    """Bound how long a sink may take: apprise's connect and read timeouts (``cto``, ``rto``)."""
    extra = [f"{k}={seconds:g}" for k in ("cto", "rto") if f"{k}=" not in url]
    if not extra:
        return url
    return url + ("&" if "?" in url else "?") + "&".join(extra)
