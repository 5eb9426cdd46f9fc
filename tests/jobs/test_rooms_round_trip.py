"""The round trip over HTTP: export a deployment's rooms, then re-create them on a fresh node
(``--rooms 0``: it keeps its seeded locations and themes) through the plan's import-rooms
path, as ``restore`` runs it, and compare: participants with their locations, themes, aliases
and PINs intact.

Run in both release profiles of the simulator: ``current`` and the older ``v24`` (no
``sync_status``, ``last_reported``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backup_agent.config import Deployment, Secret
from backup_agent.infinity import InfinityClient
from backup_agent.jobs.export import read_rooms
from backup_agent.jobs.import_rooms import compare
from backup_agent.sim import SimOptions, Simulator
from tests.jobs.conftest import PASSWORD, Runner, listing, write_config
from tests.jobs.restore_helpers import path_number, plan

RELEASES = ["current", "v24"]


@pytest.fixture(params=RELEASES)
def release(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _options(release: str, **kw: Any) -> SimOptions:
    return SimOptions(conferencing_nodes=3, password=PASSWORD, release=release, **kw)


@pytest.fixture
def source(release: str) -> Iterator[Simulator]:
    with Simulator(_options(release, rooms=120, aliases_per_room=2)) as sim:
        yield sim


def _client(url: str, tmp_path: Path) -> InfinityClient:
    return InfinityClient(Deployment(name="prod", url=url, retries=0, password=Secret(
        "pw", file=str(tmp_path / "pw"))))


def _facts(rooms: list[dict[str, Any]]) -> dict[str, Any]:
    """What must survive, by room name: PINs, theme, aliases, participants and locations."""
    def name(ref: Any) -> Any:
        return ref.get("name") if isinstance(ref, dict) else ref

    return {r["name"]: (r["pin"], r["guest_pin"], name(r["ivr_theme"]),
                        sorted(a["alias"] for a in r["aliases"]),
                        sorted((p["alias"], p["routing"], name(p["system_location"]))
                               for p in r["automatic_participants"]))
            for r in rooms}


def test_export_then_import_rooms_onto_a_fresh_node(agent: Runner, source: Simulator,
                                                   release: str, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, source.url)
    code, _, err = agent("--config", str(cfg), "export")
    assert code == 0, err
    [rp] = [p for p in listing(agent, cfg) if p["kind"] == "room-export"]
    rooms_json = next(f["path"] for f in rp["files"] if f["name"] == "rooms.json")
    exported = json.loads(Path(rooms_json).read_text())["conferences"]
    want = _facts(exported)
    assert any(f[2] for f in want.values()), "rooms with themes"
    assert any(p[0].endswith("#") for p in want.values()), "PINs with a terminal #"
    assert len({loc for f in want.values() for *_, loc in f[4] if loc}) >= 2

    with Simulator(_options(release, rooms=0, refuse_readonly=True)) as fresh:
        cfg = write_config(tmp_path, fresh.url)  # the same store: the deployment moved
        p = plan(agent, cfg)
        n = path_number(p, "import-rooms")
        code, out, err = agent("--config", str(cfg), "restore", "--path", str(n), "--yes")
        assert code == 0, (out, err)
        assert f"{len(exported)} room(s) re-created" in out
        with _client(fresh.url, tmp_path) as client:
            back = read_rooms(client)
    assert _facts(back) == want
    check = compare(exported, back)
    assert check["matches"] and check["rooms_matching"] == len(exported)
    assert check["references_dropped"] == 0
