"""``backup-agent export``: every room, with aliases, as JSON and CSV; unchanged and diffs."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from backup_agent.sim import Simulator
from tests.jobs.conftest import Runner, listing


def exports(agent: Runner, cfg: Path) -> list[dict[str, object]]:
    return [p for p in listing(agent, cfg) if p["kind"] == "room-export"]


def test_export_has_every_room_and_alias(agent: Runner, cfg: Path, sim: Simulator) -> None:
    code, _, err = agent("--config", str(cfg), "export")
    assert code == 0, err
    [rp] = exports(agent, cfg)
    files = {f["name"]: Path(f["path"]) for f in rp["files"]}  # type: ignore[attr-defined]
    assert set(files) == {"rooms.json", "vmrs.csv", "auditoriums.csv"}
    doc = json.loads(files["rooms.json"].read_text())
    rooms = doc["conferences"]
    assert len(rooms) == sim.state.room_count
    assert sum(len(r["aliases"]) for r in rooms) == sim.state.alias_count
    assert {r["service_type"] for r in rooms} >= {"conference", "lecture"}
    for room in rooms:
        for alias in room["aliases"]:
            assert alias["conference"] == room["resource_uri"]
    with_participants = [r for r in rooms if r["automatic_participants"]]
    assert with_participants and isinstance(with_participants[0]["automatic_participants"][0], dict)
    vmr_rows = list(csv.DictReader(io.StringIO(files["vmrs.csv"].read_text())))
    vmr_aliases = sum(max(1, len(r["aliases"])) for r in rooms if r["service_type"] == "conference")
    assert len(vmr_rows) == vmr_aliases
    assert list(vmr_rows[0])[:6] == ["name", "description", "pin", "allow_guests", "guest_pin", "alias_alias"]


def test_identical_export_is_unchanged_and_diff_counts_changes(agent: Runner, cfg: Path, sim: Simulator) -> None:
    assert agent("--config", str(cfg), "export")[0] == 0
    code, out, _ = agent("--config", str(cfg), "export", "--json")
    assert code == 0
    assert [i["outcome"] for i in json.loads(out)["items"] if i["item"] == "room-export"] == ["unchanged"]
    assert len(exports(agent, cfg)) == 1
    removed = sim.state.delete_rooms(2)
    assert removed == 2
    code, out, _ = agent("--config", str(cfg), "export", "--json")
    diff = json.loads(out)["summary"]["room_export"]["diff"]
    assert (diff["added"], diff["removed"], diff["changed"]) == (0, 2, 0)
    assert len(exports(agent, cfg)) == 2


def test_verify_detects_tampering(agent: Runner, cfg: Path) -> None:
    assert agent("--config", str(cfg), "export")[0] == 0
    code, out, _ = agent("--config", str(cfg), "verify", "--json")
    assert code == 0 and all(r["ok"] for r in json.loads(out))
    rp = exports(agent, cfg)[0]
    Path(rp["files"][1]["path"]).write_text("tampered")  # type: ignore[index]
    code, out, _ = agent("--config", str(cfg), "verify", "--json")
    assert code == 1
    bad = [r for r in json.loads(out) if not r["ok"]]
    assert [r["id"] for r in bad] == [rp["id"]]
    assert not next(p for p in listing(agent, cfg) if p["id"] == rp["id"])["verified"]


def test_failed_export_exits_1_though_the_inventory_was_refreshed(agent: Runner, cfg: Path,
                                                                  sim: Simulator) -> None:
    """Inventory fine, room listing broken: no room export was made, so the run failed (1),
    not partially failed (3): a monitor reading 3 as a warning would miss days without one."""
    sim.faults.fail_next(50, status=500, path="configuration/v1/conference")
    code, out, err = agent("--config", str(cfg), "export", "--json")
    assert code == 1, (out, err)
    run = json.loads(out)
    assert run["outcome"] == "failed"
    assert {i["item"]: i["outcome"] for i in run["items"]} == {"inventory": "ok",
                                                               "room-export": "failed"}
    assert "room-export failed" in err


def test_diff_counts_added_and_changed(agent: Runner, cfg: Path, sim: Simulator) -> None:
    import requests

    from tests.jobs.conftest import PASSWORD

    assert agent("--config", str(cfg), "export")[0] == 0
    api = f"{sim.url}/api/admin/configuration/v1/conference/"
    auth = ("admin", PASSWORD)
    first = requests.get(api, auth=auth, timeout=5).json()["objects"][0]
    assert requests.patch(f"{api}{first['id']}/", json={"description": "moved"}, auth=auth, timeout=5).ok
    assert requests.post(api, json={"name": "Brand new VMR", "service_type": "conference"}, auth=auth,
                         timeout=5).status_code == 201
    code, out, _ = agent("--config", str(cfg), "export", "--json")
    assert code == 0
    diff = json.loads(out)["summary"]["room_export"]["diff"]
    assert (diff["added"], diff["removed"], diff["changed"]) == (1, 0, 1)
    assert diff["added_names"] == ["Brand new VMR"] and diff["changed_names"] == [first["name"]]


def test_rooms_json_reads_back_in_any_layout(agent: Runner, cfg: Path, tmp_path: Path) -> None:
    """The streamed one-room-per-line layout and a hand-edited (pretty) file read the same."""
    from backup_agent.jobs.export import iter_room_lines

    assert agent("--config", str(cfg), "export")[0] == 0
    path = Path(next(f["path"] for f in exports(agent, cfg)[0]["files"] if f["name"] == "rooms.json"))  # type: ignore[attr-defined]
    doc = json.loads(path.read_text())
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(doc, indent=4))
    assert list(iter_room_lines(path)) == list(iter_room_lines(pretty))
    assert len(doc["conferences"]) == len(list(iter_room_lines(path)))


def test_broken_previous_export_is_not_confirmed_as_unchanged(agent: Runner, cfg: Path) -> None:
    """A previous export whose file is gone is no restore point: the next run stores a new one."""
    assert agent("--config", str(cfg), "export")[0] == 0
    old = exports(agent, cfg)[0]
    rooms = next(f for f in old["files"] if f["name"] == "rooms.json")  # type: ignore[attr-defined]
    Path(rooms["path"]).unlink()
    inv = next(p for p in listing(agent, cfg) if p["kind"] == "inventory")
    Path(inv["files"][0]["path"]).write_text("tampered")  # type: ignore[index]
    code, out, err = agent("--config", str(cfg), "export", "--json")
    assert code == 0, err
    assert {i["item"]: i["outcome"] for i in json.loads(out)["items"]} == {
        "inventory": "ok", "room-export": "ok"}
    new = exports(agent, cfg)[0]
    assert new["id"] != old["id"]
    assert all(Path(f["path"]).is_file() for f in new["files"])  # type: ignore[attr-defined]


def test_a_failed_export_leaves_no_visible_file(cfg: Path) -> None:
    """rooms.json is written, then vmrs.csv cannot be: nothing of the export stays visible."""
    from datetime import UTC, datetime

    from backup_agent import config
    from backup_agent.jobs.env import Env
    from backup_agent.jobs.export import export

    now = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    env = Env.open(config.load(cfg), clock=lambda: now)
    blocked = Path(env.store.location("prod/room-export/re-prod-20261126T100000Z/vmrs.csv"))
    (blocked / "in-the-way").mkdir(parents=True)
    try:
        run = export(env, env.config.deployment())
        points = env.catalog.restore_points(kind="room-export")
    finally:
        env.close()
    assert run.outcome == "failed"  # no room export made: the inventory alone is no export
    reason = run.items["room-export"][1] or ""
    assert "vmrs.csv" in reason and "internal error" not in reason
    assert points == []
    left = sorted(p.name for p in blocked.parent.iterdir())
    assert left == ["vmrs.csv"]  # only what was in the way; no rooms.json, no temporary file


def test_verify_of_an_unknown_deployment_is_an_error(agent: Runner, cfg: Path) -> None:
    """A typo must not read as '0 of 0 restore points verified', exit 0."""
    code, out, err = agent("--config", str(cfg), "verify", "--deployment", "prdo")
    assert code == 2 and out == ""
    assert "no deployment named 'prdo'" in err


def test_the_export_asks_the_version_once_the_inventory_read_it(agent: Runner, cfg: Path,
                                                                sim: Simulator) -> None:
    """The schema lookups before the first page use the version the inventory's status read
    had (a second status request was a round trip before the rooms, in turn)."""
    status = "/api/admin/status/v1/management_vm/"
    before = sim.state.requests_by_path[status]
    assert agent("--config", str(cfg), "export")[0] == 0
    assert sim.state.requests_by_path[status] - before == 1
    assert sim.state.requests_by_path["/api/admin/configuration/v1/conference/schema/"] >= 1
