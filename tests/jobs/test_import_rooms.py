"""Re-creating rooms from a room export: into an empty node, again (idempotent), aliases in use,
references the target lacks, a room the target refuses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backup_agent.config import Deployment, Secret
from backup_agent.errors import ApiError
from backup_agent.infinity import InfinityClient
from backup_agent.jobs.export import assemble
from backup_agent.jobs.import_rooms import compare, import_rooms
from backup_agent.sim import SimOptions, Simulator

PASSWORD = "import-test-pw"


def _client(sim: Simulator, tmp_path: Path) -> InfinityClient:
    (tmp_path / "pw").write_text(PASSWORD)
    return InfinityClient(Deployment(name="prod", url=sim.url, retries=0,
                                     password=Secret("pw", file=str(tmp_path / "pw"))))


def _rooms(client: InfinityClient) -> list[dict[str, Any]]:
    return assemble(client.conferences(), client.aliases(), client.automatic_participants())


@pytest.fixture
def exported(tmp_path: Path) -> Iterator[list[dict[str, Any]]]:
    with Simulator(SimOptions(rooms=60, aliases_per_room=2, password=PASSWORD)) as source, \
            _client(source, tmp_path) as client:
        yield _rooms(client)


@pytest.fixture
def target(tmp_path: Path) -> Iterator[tuple[Simulator, InfinityClient]]:
    with Simulator(SimOptions(empty=True, password=PASSWORD)) as sim, \
            _client(sim, tmp_path) as client:
        yield sim, client


def test_into_an_empty_node_and_again(exported: list[dict[str, Any]],
                                      target: tuple[Simulator, InfinityClient]) -> None:
    sim, client = target
    result = import_rooms(client, exported)
    assert (result.created, result.existing) == (60, 0)
    assert result.aliases_created == 120 and sim.state.alias_count == 120
    parts = {p["alias"] for r in exported for p in r["automatic_participants"]}
    assert parts and result.participants_created == len(parts)
    # the empty node has no system locations: those references are dropped, and counted
    assert result.dropped_references["system_location"] > 0
    check = compare(exported, _rooms(client))
    assert check["matches"] and check["rooms_matching"] == 60 and check["aliases_restored"] == 120
    again = import_rooms(client, exported)
    assert (again.created, again.existing, again.participants_created) == (0, 60, 0)
    assert sim.state.room_count == 60


def test_aliases_in_use_and_participants_on_the_target(
        exported: list[dict[str, Any]], target: tuple[Simulator, InfinityClient]) -> None:
    _, client = target
    room = next(r for r in exported if r["automatic_participants"])
    squatter = client.create_conference({"name": "squatter", "aliases": [
        {"alias": room["aliases"][0]["alias"]}]})
    part = room["automatic_participants"][0]
    client.create_participant({"alias": part["alias"], "conference": [
        f"/api/admin/configuration/v1/conference/{squatter}/"]})
    result = import_rooms(client, [room])
    assert result.created == 1 and result.aliases_taken == 1 and result.aliases_created == 1
    assert result.participants_linked == 1 and result.participants_created == 0
    check = compare([room], [r for r in _rooms(client) if r["name"] == room["name"]])
    assert check["changed"] == [room["name"]], "the alias in use is not there: not a match"


def test_a_room_the_target_refuses(exported: list[dict[str, Any]],
                                   target: tuple[Simulator, InfinityClient]) -> None:
    sim, client = target
    bad = dict(exported[1], name="x" * 300)
    with pytest.raises(ApiError, match=r"1 of 3 room\(s\) could not be re-created"):
        import_rooms(client, [exported[0], bad, exported[2]])
    assert sim.state.room_count == 2, "the others are created; a re-run skips them"
    again = import_rooms(client, [exported[0], exported[2]])
    assert again.existing == 2 and again.created == 0
