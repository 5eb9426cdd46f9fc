"""One retry policy, and one way of waiting for a platform task, for the agent and every provider.

Modelled on libcloud's ``utils/retry.py``: a policy object instead of loops written in each
caller. Here, because ``providers/`` imports nothing of ``backup_agent`` while
``backup_agent`` may import ``providers``: the Management Node client (``infinity/http.py``,
``infinity/backups.py``) and the providers share this one module.

- :class:`Backoff`: how long to wait before retry ``n`` of a failed call: exponential with
  jitter, capped, or what the server asked for in ``Retry-After`` (429 and 503), capped too.
- :class:`Poll`: waiting for a task that is in progress (a vSphere task, a snapshot being
  made, a backup request): short first pauses growing to a ceiling, until a deadline.

Both take their ``sleep`` (and ``Poll`` its monotonic ``clock``) as parameters: tests pass a
no-op sleep and wait no real backoff. SDK-level retries (botocore's ``standard`` mode, the
Azure pipeline's ``retry_total``, google-api-core's ``Retry``) stay the SDKs' own; this module
is for the loops the agent writes itself.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

#: HTTP statuses whose ``Retry-After`` a client honours (RFC 9110 §10.2.3; RFC 6585 §4).
RETRY_AFTER_STATUSES = frozenset({429, 503})


def no_sleep(seconds: float) -> None:
    """A sleep that does not wait (tests)."""


@dataclass(frozen=True)
class Backoff:
    """At most ``retries`` retries, before retry ``n`` (from 0) ``base * 2**n`` seconds, at most
    ``cap``, of which jitter takes up to half off (so that clients do not retry in step)."""

    retries: int = 3
    base: float = 0.5
    cap: float = 30.0
    retry_after_cap: float = 120.0  # a server asking for longer is not waited for in full
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = field(default=random.random)  # in [0, 1)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry ``attempt`` (0 for the first)."""
        if retry_after is not None:
            return min(max(0.0, retry_after), self.retry_after_cap)
        base = min(self.cap, self.base * (2 ** attempt))
        return base * (0.5 + self.jitter() / 2)

    def pause(self, attempt: int, retry_after: float | None = None) -> float:
        """Wait before retry ``attempt``; the seconds waited."""
        seconds = self.delay(attempt, retry_after)
        self.sleep(seconds)
        return seconds

    def exhausted(self, attempt: int) -> bool:
        """Whether ``attempt`` retries already made are all there are."""
        return attempt >= self.retries

    def with_retries(self, retries: int) -> Backoff:
        return replace(self, retries=retries)


@dataclass(frozen=True)
class Poll:
    """Pauses between looks at a task in progress: ``first``, growing by ``factor`` up to
    ``ceiling``, none past the deadline."""

    first: float = 0.05
    factor: float = 2.0
    ceiling: float = 2.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def looks(self, timeout: float) -> Iterator[float]:
        """Yield once at once, then again after each pause, while time is left; the seconds
        left at each look. The caller looks (returns or raises when done) and, when the
        iterator ends, raises its own "not done in time"."""
        deadline = self.clock() + timeout
        pause = self.first
        while True:
            left = deadline - self.clock()
            yield left
            left = deadline - self.clock()
            if left <= 0:
                return
            self.sleep(min(pause, left))
            pause = min(pause * self.factor, self.ceiling)


#: The figures of the providers' SDK-level request retries (botocore's attempts,
#: google-api-core's backoff): the SDKs do that waiting, from this one policy.
SDK_BACKOFF = Backoff(retries=2, base=0.2, cap=5.0)


def parse_retry_after(value: str, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or HTTP date) at ``now``
    (epoch seconds); None when it is neither."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)
