"""The copy's object retries: transient store errors are waited out, the rest raise at once."""

from __future__ import annotations

import pytest

from backup_agent.errors import StoreError, StoreUnavailable
from backup_agent.jobs.copy import retrying
from providers.retry import Backoff, no_sleep


def flaky(errors: list[StoreError]) -> object:
    def attempt() -> str:
        if errors:
            raise errors.pop(0)
        return "done"
    return attempt


def test_transient_errors_are_retried_within_the_policy() -> None:
    cut = StoreUnavailable("s3: cannot write k: ConnectionClosedError", transient=True)
    assert retrying(Backoff(retries=2, sleep=no_sleep), "k", flaky([cut, StoreError("500")])) == "done"
    with pytest.raises(StoreError, match="three"):
        retrying(Backoff(retries=2, sleep=no_sleep), "k",
                 flaky([StoreError("one"), StoreError("two"), StoreError("three")]))


@pytest.mark.parametrize("error", [
    StoreUnavailable("s3: bucket 'x' does not exist"),
    StoreUnavailable("s3: access denied writing k"),
    StoreError("k already exists in the store; not overwritten"),
    StoreError("cannot read k from the store: no such object"),
])
def test_what_waiting_cannot_fix_raises_at_once(error: StoreError) -> None:
    pauses: list[float] = []
    with pytest.raises(type(error)):
        retrying(Backoff(retries=5, sleep=pauses.append), "k", flaky([error]))
    assert pauses == []
