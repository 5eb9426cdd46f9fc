"""Live evidence and live planning against the simulator: probes, declared failures, replay."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from backup_agent.sim import Simulator
from tests.jobs.conftest import Runner, listing, write_config


def test_evidence_round_trips_through_plan(agent: Runner, cfg: Path, sim: Simulator, tmp_path: Path) -> None:
    assert agent("--config", str(cfg), "backup")[0] == 0
    assert agent("--config", str(cfg), "export")[0] == 0
    code, out, err = agent("--config", str(cfg), "evidence", "--failed", "management")
    assert code == 0, err
    ev = json.loads(out)
    assert ev["management_node"]["status"] == "down"
    assert ev["management_node"]["down_since"], "defaults to the last contact"
    assert {p["kind"] for p in ev["restore_points"]} == {"config-backup", "room-export"}
    assert all(n["status"] == "up" for n in ev["conferencing_nodes"])
    f = tmp_path / "ev.json"
    f.write_text(out)
    code, out, err = agent("plan", "--evidence", str(f), "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["priority"] == "P2" and plan["autonomy"]["applies"]
    assert plan["paths"][0]["kind"] == "restore-backup" and plan["paths"][-1]["kind"] == "rebuild"
    commands = [s["detail"] for s in plan["paths"][0]["steps"] if "backup-agent restore" in s["detail"]]
    assert commands and all("--failed management --down-since " in c and "--path 1" in c for c in commands), \
        "the printed restore command carries the plan's declaration, so it recomputes this plan"


def test_live_plan_sees_a_dead_management_node(agent: Runner, cfg: Path, sim: Simulator) -> None:
    assert agent("--config", str(cfg), "backup")[0] == 0
    sim.state.set_management_down("close")
    code, out, err = agent("--config", str(cfg), "plan", "--failed", "management", "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["autonomy"]["level"] == "warning"
    assert plan["paths"][0]["kind"] == "restore-backup"


def test_rooms_deleted_by_mistake_become_import_rooms(agent: Runner, cfg: Path, sim: Simulator) -> None:
    assert agent("--config", str(cfg), "export")[0] == 0
    sim.state.delete_rooms(4)
    code, out, err = agent("--config", str(cfg), "evidence")
    assert code == 0, err
    assert len(json.loads(out)["lost_rooms"]) == 4


def test_plan_with_nothing_declared_finds_rooms_deleted_by_mistake(agent: Runner, cfg: Path,
                                                                   sim: Simulator) -> None:
    """`--failed` has no value for lost rooms: `plan` alone plans from what the probes find."""
    assert agent("--config", str(cfg), "export")[0] == 0
    sim.state.delete_rooms(3)
    code, out, err = agent("--config", str(cfg), "plan", "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["paths"][0]["kind"] == "import-rooms" and plan["priority"] == "P3"
    code, out, err = agent("--config", str(cfg), "plan")
    assert code == 0 and "Re-create 3 lost room(s)" in out, err


def test_down_since_before_a_backup_is_refused_not_planned_as_a_rebuild(
        agent: Runner, cfg: Path, sim: Simulator) -> None:
    """A --down-since earlier than a backup the agent took through the Management Node left
    every restore point out: the plan said rebuild, losing everything, with good backups."""
    for command in ("backup", "export"):
        assert agent("--config", str(cfg), command)[0] == 0
    code, out, _ = agent("--config", str(cfg), "list", "--json")
    newest = max(p["taken_at"] for p in json.loads(out) if p["kind"] in ("config-backup",
                                                                           "room-export"))
    sim.state.set_management_down()
    for command in ("plan", "evidence"):
        code, out, err = agent("--config", str(cfg), command, "--failed", "management",
                               "--down-since", "2026-01-01T00:00:00Z")
        assert code == 2 and err.count("\n") == 1 and out == "", err
        assert "--down-since 2026-01-01T00:00:00Z: the Management Node answered after it" in err
        assert "retry" not in err, "refused before the probes"
    code, _, err = agent("--config", str(cfg), "plan", "--failed", "management",
                         "--down-since", "2099-01-01T00:00:00Z")
    assert code == 2 and "is in the future" in err and err.count("\n") == 1
    for declared in ([], ["--down-since", newest.replace("Z", "+00:00")]):
        code, out, err = agent("--config", str(cfg), "plan", "--failed", "management", "--json",
                               *declared)
        assert code == 0, err
        assert json.loads(out)["paths"][0]["kind"] == "restore-backup"


def test_failed_node_not_in_inventory(agent: Runner, cfg: Path) -> None:
    assert agent("--config", str(cfg), "export")[0] == 0
    code, _, err = agent("--config", str(cfg), "plan", "--failed", "cn-nowhere")
    assert code == 2 and "cn-nowhere" in err and err.count("\n") == 1


def test_failed_node_in_agent_toml_but_not_in_the_inventory(agent: Runner, sim: Simulator,
                                                           tmp_path: Path) -> None:
    """The shipped agent.toml binds ``cn01``, a node the simulator does not have: declaring it
    failed is one usage line naming the mismatch, not the evidence's internal ``failed[0]``."""
    cfg = write_config(tmp_path, sim.url)
    cfg.write_text(cfg.read_text() + '[[deployments.nodes]]\nname = "cn01"\n'
                   'role = "conferencing"\n')
    assert agent("--config", str(cfg), "export")[0] == 0
    for command in ("plan", "evidence"):
        code, _, err = agent("--config", str(cfg), command, "--failed", "cn01")
        assert code == 2 and err.count("\n") == 1, err
        assert "--failed cn01: not a node of prod in the inventory" in err
        assert "agent.toml names cn01" in err and "failed[0]" not in err
        assert "cn01," not in err.split("known: ")[1], "not listed as known"


def test_never_reached_needs_down_since(agent: Runner, tmp_path: Path) -> None:
    from tests.jobs.conftest import write_config

    cfg = write_config(tmp_path, "http://127.0.0.1:9")
    code, _, err = agent("--config", str(cfg), "plan", "--failed", "management")
    assert code == 2 and "never reached the Management Node" in err
    assert err.rstrip().endswith(": pass --down-since TIME")  # the error's hint, as a flag
    code, out, err = agent("--config", str(cfg), "plan", "--failed", "management",
                           "--down-since", "2026-11-20T08:00:00Z", "--json")
    assert code == 0, err
    assert [p["kind"] for p in json.loads(out)["paths"]] == ["rebuild"]


def test_status_shows_the_clock(agent: Runner, cfg: Path, sim: Simulator) -> None:
    assert agent("--config", str(cfg), "backup")[0] == 0
    code, out, _ = agent("--config", str(cfg), "status", "--json")
    assert code == 0
    [s] = json.loads(out)
    assert s["management_node"] == "up" and s["autonomy"]["level"] == "none"
    assert s["newest"]["config-backup"]["kind"] == "config-backup"
    assert s["last_runs"]["backup"]["outcome"] == "completed"
    sim.state.set_management_down("close")
    code, out, _ = agent("--config", str(cfg), "status")
    assert code == 11 and "AUTONOMY CLOCK WARNING" in out and "h left" in out


def test_status_last_contact_is_the_probe_it_just_made(agent: Runner, cfg: Path,
                                                       sim: Simulator) -> None:
    """status said "up, last contact <hours ago>": the contact was read before its probe."""
    from datetime import UTC, datetime

    from backup_agent import config as config_mod
    from backup_agent.jobs.env import Env

    env = Env.open(config_mod.load(cfg))
    try:
        env.catalog.record_contact("prod", datetime(2026, 1, 1, tzinfo=UTC))
    finally:
        env.close()
    before = datetime.now(UTC).replace(microsecond=0)
    code, out, _ = agent("--config", str(cfg), "status", "--json")
    [s] = json.loads(out)
    assert code == 10 and s["management_node"] == "up"  # degraded: no config backup yet
    assert datetime.fromisoformat(s["last_contact"].replace("Z", "+00:00")) >= before
    code, out, _ = agent("--config", str(cfg), "status", "--no-probe", "--json")
    assert json.loads(out)[0]["last_contact"] == s["last_contact"]


def test_support_bundle(agent: Runner, cfg: Path, sim: Simulator, tmp_path: Path) -> None:
    import tarfile

    from tests.jobs.conftest import PASSPHRASE, PASSWORD

    assert agent("--config", str(cfg), "backup")[0] == 0
    out = tmp_path / "bundle.tgz"
    code, stdout, err = agent("--config", str(cfg), "support-bundle", "--out", str(out),
                              "--failed", "cn-nope", "--json")
    assert code == 0, err
    manifest = json.loads(stdout)
    assert "no evidence or plan" in manifest["notes"][0], "a bad --failed is noted, not fatal"
    code, stdout, err = agent("--config", str(cfg), "support-bundle", "--out", str(out), "--json")
    assert code == 0, err
    assert out.stat().st_mode & 0o777 == 0o600
    with tarfile.open(out) as tar:
        names = {m.name.split("/", 1)[1] for m in tar.getmembers()}
        assert all(m.mtime > 1_700_000_000 for m in tar.getmembers()), "dated now, not 1970"
        assert {"evidence.json", "plan.json", "plan.md", "runs.json", "agent.log",
                "pexip-diagnostic-bundle.tgz", "manifest.json"} <= names
        blob = b"".join(tar.extractfile(m).read() for m in tar.getmembers() if m.isfile())  # type: ignore[union-attr]
    assert b"config-backup" in blob and b"backup prod: completed" in blob
    assert PASSWORD.encode() not in blob and PASSPHRASE.encode() not in blob
    sim.state.set_management_down("close")
    code, stdout, err = agent("--config", str(cfg), "support-bundle", "--out", str(out), "--json")
    assert code == 0, err
    assert any("no Pexip diagnostic bundle" in n for n in json.loads(stdout)["notes"])


def test_export_file_gone_or_garbled_is_a_warning_not_a_crash(agent: Runner, cfg: Path,
                                                              tmp_path: Path) -> None:
    """The newest export's rooms.json deleted or garbled behind the catalog's back."""
    assert agent("--config", str(cfg), "export")[0] == 0
    rooms = next(Path(f["path"]) for p in listing(agent, cfg) if p["kind"] == "room-export"
                 for f in p["files"] if f["name"] == "rooms.json")
    rooms.write_text("{not json")
    code, _, err = agent("--config", str(cfg), "evidence")
    assert code == 0, err
    assert "internal error" not in err and "cannot compare rooms" in err
    rooms.unlink()
    code, _, err = agent("--config", str(cfg), "support-bundle", "--out", str(tmp_path / "b.tgz"))
    assert code == 0, err
    assert "internal error" not in err and "cannot compare rooms" in err


def test_support_bundle_on_a_full_disk_leaves_no_temporary_file(
        agent: Runner, cfg: Path, tmp_path: Path, small_fs: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Pexip's diagnostic bundle is fetched to a temporary file: it goes even when writing fails."""
    import tempfile

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with open(small_fs / "filler", "wb") as fh, contextlib.suppress(OSError):
        while True:
            fh.write(b"\0" * 65536)
            fh.flush()
    code, _, err = agent("--config", str(cfg), "support-bundle", "--out", str(small_fs / "b.tgz"))
    assert code == 1
    assert err.strip().splitlines()[-1].startswith("backup-agent: cannot write the support bundle")
    assert list(scratch.iterdir()) == []
    assert sorted(p.name for p in small_fs.iterdir()) == ["filler"]


def test_plan_survives_a_damaged_inventory_file(agent: Runner, cfg: Path, sim: Simulator) -> None:
    """Planning a P1 must not stop at a damaged inventory.json: an older one, or none, will do."""
    assert agent("--config", str(cfg), "backup")[0] == 0
    [inv] = [p for p in listing(agent, cfg) if p["kind"] == "inventory"]
    Path(inv["files"][0]["path"]).write_text("{garbled")
    sim.state.set_management_down("close")
    code, out, err = agent("--config", str(cfg), "plan", "--failed", "management", "--json")
    assert code == 0, err
    assert "cannot read inventory" in err and "internal error" not in err
    Path(inv["files"][0]["path"]).unlink()
    code, out, err = agent("--config", str(cfg), "evidence", "--failed", "management")
    assert code == 0, err
    assert json.loads(out)["management_node"]["status"] == "down"


def test_refused_credentials_are_not_called_an_outage_silently(agent: Runner, cfg: Path, sim: Simulator,
                                                               tmp_path: Path) -> None:
    """A Management Node that answers but refuses the password is 'unknown', and status says why."""
    assert agent("--config", str(cfg), "backup")[0] == 0
    (tmp_path / "pw").write_text("Not-The-Pw-5521")
    code, out, _ = agent("--config", str(cfg), "status", "--json")
    [s] = json.loads(out)
    assert code == 10 and s["management_node"] == "unknown" and s["health"] == "degraded"
    assert "refuses the agent's credentials" in s["management_probe"]
    code, out, _ = agent("--config", str(cfg), "status")
    assert code == 10 and "probe: it answers but refuses the agent's credentials" in out
    assert "Not-The-Pw-5521" not in out
