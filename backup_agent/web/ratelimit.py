"""Wrong tokens counted per client address, so that nobody can guess one at network speed.

A wrong bearer token or a failed sign-in counts against the address it came from. Past
:attr:`Failures.LIMIT` of them within :attr:`Failures.WINDOW`, that address is answered 429
with a Retry-After until its oldest failure leaves the window, whatever it sends: a right
token too, or the limit would only slow guessing down by as much as the guesser likes. A
right token never counts, nor does an expired session; other addresses are not affected. The
address is the connection's (behind a reverse proxy, uvicorn takes X-Forwarded-For from the
proxies ``FORWARDED_ALLOW_IPS`` trusts: loopback by default). At most
:attr:`Failures.ADDRESSES` addresses are remembered, the oldest forgotten first.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class TooManyFailures(Exception):
    """This address failed too often: ``retry_after`` seconds until it may try again."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many wrong tokens from this address; try again in {retry_after} s")
        self.retry_after = retry_after


class Failures:
    """The recent failures of each client address (monotonic seconds)."""

    LIMIT = 10
    WINDOW = 300.0
    ADDRESSES = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def check(self, address: str) -> None:
        """TooManyFailures while ``address`` is over the limit."""
        with self._lock:
            recent = self._recent(address)
            if recent is not None and len(recent) >= self.LIMIT:
                raise TooManyFailures(max(1, math.ceil(recent[0] + self.WINDOW - self._clock())))

    def failed(self, address: str) -> None:
        """Count one wrong token from ``address``."""
        with self._lock:
            recent = self._recent(address)
            if recent is None:
                recent = self._seen[address] = deque(maxlen=self.LIMIT)
                while len(self._seen) > self.ADDRESSES:
                    self._seen.popitem(last=False)
            recent.append(self._clock())
            self._seen.move_to_end(address)

    def _recent(self, address: str) -> deque[float] | None:
        """``address``'s failures still in the window (older ones dropped), if it has any."""
        recent = self._seen.get(address)
        if recent is None:
            return None
        cutoff = self._clock() - self.WINDOW
        while recent and recent[0] <= cutoff:
            recent.popleft()
        if not recent:
            del self._seen[address]
            return None
        return recent
