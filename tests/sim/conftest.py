"""Simulators on free loopback ports, and an authenticated session to talk to them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from backup_agent.sim import SimOptions, Simulator

API = "/api/admin/"
CONF = API + "configuration/v1/"


class Client:
    """A small authenticated session bound to one simulator (tests only)."""

    def __init__(self, sim: Simulator, auth: tuple[str, str] = ("admin", "sim-admin")) -> None:
        self.sim = sim
        self.session = requests.Session()
        self.session.auth = auth

    def url(self, path: str) -> str:
        return self.sim.url + path

    def get(self, path: str, **kw: object) -> requests.Response:
        return self.session.get(self.url(path), timeout=30, **kw)  # type: ignore[arg-type]

    def post(self, path: str, **kw: object) -> requests.Response:
        return self.session.post(self.url(path), timeout=30, **kw)  # type: ignore[arg-type]

    def patch(self, path: str, **kw: object) -> requests.Response:
        return self.session.patch(self.url(path), timeout=30, **kw)  # type: ignore[arg-type]

    def delete(self, path: str, **kw: object) -> requests.Response:
        return self.session.delete(self.url(path), timeout=30, **kw)  # type: ignore[arg-type]

    def all(self, path: str) -> list[dict]:
        """Every object of a list, following meta.next paths."""
        objects: list[dict] = []
        next_path: str | None = path
        while next_path:
            answer = self.get(next_path)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            objects.extend(body["objects"])
            next_path = body["meta"]["next"]
        return objects

    def backup(self, passphrase: str = "correct horse") -> dict:  # noqa: S107 - test phrase
        """Create a backup now and return its listing entry (the newest)."""
        answer = self.post(API + "command/v1/platform/backup_create/", json={"passphrase": passphrase})
        assert answer.status_code in (200, 202), answer.text
        return self.get(CONF + "system_backup/").json()["objects"][-1]


def make_sim(**options: object) -> Simulator:
    return Simulator(SimOptions(**options)).start()  # type: ignore[arg-type]


@pytest.fixture
def sim() -> Iterator[Simulator]:
    s = make_sim(rooms=60, aliases_per_room=2, conferencing_nodes=3, seed=7)
    yield s
    s.stop()


@pytest.fixture
def client(sim: Simulator) -> Client:
    return Client(sim)
