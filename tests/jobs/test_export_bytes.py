"""The export's bytes are pinned: the same node gives the same files, export after export, and
the CSVs this release writes are the ones the release before it wrote. Speed work on the
encoder, the CSV writer or the spool must not change a byte unnoticed: a changed byte makes
every room look changed in the next diff and the next export not 'unchanged'.

Format 3 changed the room lines on purpose (compact, msgspec's: the canonical encoding was
the export's largest cost). They hold the same rooms as format 2's: made spaced again, they
hash as format 2's did, and an export after an upgrade finds the rooms of a format-2 export
unchanged, and diffs against it room by room."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import requests

from backup_agent import config
from backup_agent.jobs import export
from backup_agent.jobs.env import Env
from backup_agent.sim import SimOptions, Simulator
from tests.jobs.conftest import PASSWORD, Runner, listing, write_config

# Made by main's export (f95164f) on this simulator: rooms.json's room lines (content_sha256,
# the header has the time in it) and each CSV file whole; the room lines of format 3 (compact)
# and, made spaced again, the format 2 ones of f95164f.
PINNED = {
    "content_sha256": "1e5d6e88252ce98b81c408f5bdd45998f5675be0d6fc18282e83ad9ca71216d8",
    "format_2_sha256": "44f7e74cf7b9a21360800cbf0ab70bafd7c2327493e06480b2ccb53dd4ebd931",
    "vmrs.csv": "236aa2c1b2dea58ac2e92529feb1ebf7db55f1003d51da769ff076fde62eb7ff",
    "auditoriums.csv": "e652d465121131bd449c3406564b83434aaad35a1db4b59733632d279c9c5c5c",
}


def format_2(room: dict[str, Any]) -> bytes:
    """A room line as exports of format 2 wrote it."""
    return json.dumps(room, sort_keys=True, ensure_ascii=False).encode()


def digests(agent: Runner, tmp: Path, url: str) -> dict[str, str]:
    tmp.mkdir()
    cfg = write_config(tmp, url)
    code, _, err = agent("--config", str(cfg), "export")
    assert code == 0, err
    [rp] = [p for p in listing(agent, cfg) if p["kind"] == "room-export"]
    files = {f["name"]: Path(f["path"]) for f in rp["files"]}
    out = {name: hashlib.sha256(files[name].read_bytes()).hexdigest()
           for name in ("vmrs.csv", "auditoriums.csv")}
    lines = files["rooms.json"].read_bytes().split(b"\n")[1:-2]  # header and footer aside
    out["content_sha256"] = hashlib.sha256(b"".join(line.removesuffix(b",") + b"\n"
                                                    for line in lines)).hexdigest()
    out["format_2_sha256"] = hashlib.sha256(b"".join(
        format_2(json.loads(line.removesuffix(b","))) + b"\n" for line in lines)).hexdigest()
    json.loads(files["rooms.json"].read_text())  # and it is still one JSON document
    return out


def test_the_export_is_byte_for_byte_the_pinned_one(agent: Runner, tmp_path: Path) -> None:
    opts = SimOptions(rooms=150, aliases_per_room=3, conferencing_nodes=2, seed=7,
                      password=PASSWORD, max_page_size=40)
    with Simulator(opts) as sim:
        first = digests(agent, tmp_path / "a", sim.url)
        again = digests(agent, tmp_path / "b", sim.url)
    assert first == again, "the same node, the same bytes"
    assert first == PINNED


def room_exports(agent: Runner, cfg: Path) -> list[dict[str, Any]]:
    return [p for p in listing(agent, cfg) if p["kind"] == "room-export"]


def export_as_format_2(agent: Runner, cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An export made by the release before this one (spaced lines, format 2)."""
    with monkeypatch.context() as old:
        old.setattr(export, "room_line", format_2)
        old.setattr(export, "FORMAT_VERSION", 2)
        assert agent("--config", str(cfg), "export")[0] == 0


def test_after_an_upgrade_the_rooms_of_a_format_2_export_are_unchanged(
        agent: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first export after the upgrade confirms the format-2 export (same rooms, no new
    restore point) and records its content sha256 in this format: the next one finds it so
    without reading it again."""
    with Simulator(SimOptions(rooms=60, aliases_per_room=2, password=PASSWORD)) as sim:
        cfg = write_config(tmp_path, sim.url)
        export_as_format_2(agent, cfg, monkeypatch)
        [before] = room_exports(agent, cfg)
        recorded_before = recorded(cfg)["content_sha256"]
        rooms = Path(next(f["path"] for f in before["files"] if f["name"] == "rooms.json"))
        assert b'"format_version": 2' in rooms.read_bytes().split(b"\n")[0]
        assert b'"aliases": [{"alias": ' in rooms.read_bytes()  # spaced: format 2's lines
        reads = []
        real = export.previous_rooms
        monkeypatch.setattr(export, "previous_rooms", lambda lines: reads.append(1) or real(lines))
        for _ in range(2):
            code, out, err = agent("--config", str(cfg), "export", "--json")
            assert code == 0, err
            assert json.loads(out)["summary"]["room_export"] == {
                "id": before["id"], "unchanged": True, "rooms": 60}
        (tmp_path / "fresh").mkdir()
        fresh = write_config(tmp_path / "fresh", sim.url)  # an export of this release alone
        assert agent("--config", str(fresh), "export")[0] == 0
    assert len(reads) == 1, "the second run found it unchanged from its content sha256"
    assert [p["id"] for p in room_exports(agent, cfg)] == [before["id"]]
    data, this_format = (recorded(c) for c in (cfg, fresh))
    assert data["content_sha256"] == this_format["content_sha256"] != recorded_before
    assert data["confirmed_at"]


def recorded(cfg: Path) -> dict[str, Any]:
    """The catalog's data of the latest room export."""
    with Env.open(config.load(cfg)) as env:
        rp = env.catalog.latest("prod", "room-export")
        assert rp is not None
        return rp.data


def test_after_an_upgrade_a_changed_room_is_one_room_changed(
        agent: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Simulator(SimOptions(rooms=60, aliases_per_room=2, password=PASSWORD)) as sim:
        cfg = write_config(tmp_path, sim.url)
        export_as_format_2(agent, cfg, monkeypatch)
        api, auth = f"{sim.url}/api/admin/configuration/v1/conference/", ("admin", PASSWORD)
        first = requests.get(api, auth=auth, timeout=5).json()["objects"][0]
        assert requests.patch(f"{api}{first['id']}/", json={"description": "moved"}, auth=auth,
                              timeout=5).ok
        code, out, err = agent("--config", str(cfg), "export", "--json")
    assert code == 0, err
    diff = json.loads(out)["summary"]["room_export"]["diff"]
    assert (diff["added"], diff["removed"], diff["changed"]) == (0, 0, 1)
    assert diff["changed_names"] == [first["name"]]
    assert len(room_exports(agent, cfg)) == 2
