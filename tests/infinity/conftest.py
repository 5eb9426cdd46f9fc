"""Fixtures of the Management Node client tests: simulators, deployments, a fake sleep."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from backup_agent.config import Deployment, Secret
from backup_agent.infinity import InfinityClient

# Distinctive values so the secret-leak tests can grep for them.
PASSWORD = "pw-Zq81xK-never-logged"
PASSPHRASE = "pp-7Hk2mR-never-logged"
PASSWORD_ENV = "INFINITY_TEST_PASSWORD"


class Sleeps:
    """A ``sleep`` that records what it was asked and returns almost at once.

    It still yields a few milliseconds so that polling loops do not spin hot.
    """

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        time.sleep(min(seconds, 0.005))


@pytest.fixture(autouse=True)
def _password_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)


def deployment(url: str, **kw: Any) -> Deployment:
    """A deployment named ``prod`` with basic auth from $INFINITY_TEST_PASSWORD."""
    kw.setdefault("password", Secret("deployments.prod.password", env=PASSWORD_ENV))
    kw.setdefault("retries", 3)
    kw.setdefault("timeout", 10.0)
    return Deployment(name="prod", url=url, **kw)


@contextmanager
def running_sim(**opts: Any) -> Iterator[Any]:
    """A simulator on a free loopback port whose admin password is PASSWORD."""
    from backup_agent.sim import SimOptions, Simulator

    opts.setdefault("password", PASSWORD)
    with Simulator(SimOptions(**opts)) as sim:
        yield sim


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[Any]:
    """One simulator (300 rooms, 600 aliases) shared by a module's read-only tests."""
    with running_sim(rooms=300, aliases_per_room=2) as sim:
        yield sim


@pytest.fixture
def sim_factory() -> Iterator[Callable[..., Any]]:
    """Start simulators with given options; all are stopped at the end of the test."""
    stack: list[Any] = []

    def start(**opts: Any) -> Any:
        cm = running_sim(**opts)
        sim = cm.__enter__()
        stack.append(cm)
        return sim

    yield start
    for cm in reversed(stack):
        cm.__exit__(None, None, None)


@pytest.fixture
def make_client(sleeps: Sleeps) -> Iterator[Callable[..., InfinityClient]]:
    """Clients on a URL (fake sleep), closed at the end of the test."""
    made: list[InfinityClient] = []

    def make(url: str, **kw: Any) -> InfinityClient:
        client = InfinityClient(deployment(url, **kw), sleep=sleeps)
        made.append(client)
        return client

    yield make
    for c in made:
        c.close()
