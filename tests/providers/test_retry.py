"""The one retry policy (providers/retry.py): backoff, Retry-After, polls, with no real waiting."""

from __future__ import annotations

import pytest

from providers.retry import Backoff, Poll, no_sleep


class FakeTime:
    """A monotonic clock that moves only when slept on."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_backoff_doubles_to_its_cap_and_jitter_takes_up_to_half_off() -> None:
    full = Backoff(base=0.5, cap=4.0, jitter=lambda: 1.0)
    assert [full.delay(n) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    half = Backoff(base=0.5, cap=4.0, jitter=lambda: 0.0)
    assert [half.delay(n) for n in range(3)] == [0.25, 0.5, 1.0]


def test_retry_after_wins_but_is_capped() -> None:
    policy = Backoff(retry_after_cap=120.0)
    assert policy.delay(0, retry_after=7.0) == 7.0
    assert policy.delay(3, retry_after=3600.0) == 120.0
    assert policy.delay(0, retry_after=-5.0) == 0.0


def test_pause_sleeps_through_the_injected_sleep() -> None:
    t = FakeTime()
    policy = Backoff(retries=2, base=1.0, sleep=t.sleep, jitter=lambda: 1.0)
    assert [policy.pause(n) for n in range(2)] == [1.0, 2.0]
    assert t.sleeps == [1.0, 2.0]
    assert not policy.exhausted(1) and policy.exhausted(2)
    assert policy.with_retries(0).exhausted(0)


def test_poll_looks_at_once_then_after_growing_pauses_until_the_deadline() -> None:
    t = FakeTime()
    poll = Poll(first=0.5, factor=2.0, ceiling=2.0, sleep=t.sleep, clock=t.clock)
    looks = list(poll.looks(5.0))
    assert t.sleeps == [0.5, 1.0, 2.0, 1.5]  # the last pause stops at the deadline
    assert len(looks) == 5 and looks[0] == 5.0


@pytest.mark.parametrize("timeout", [0.0, -1.0])
def test_poll_with_no_time_left_looks_once(timeout: float) -> None:
    assert len(list(Poll(sleep=no_sleep).looks(timeout))) == 1
