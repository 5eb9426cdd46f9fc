"""The planner knows copies: local bytes gone, the off-site copy serves plan, restore and drill."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from backup_agent.sim import SimOptions, Simulator
from tests.jobs.conftest import PASSWORD, Runner, listing
from tests.jobs.restore_helpers import config_with_nodes, path_number, plan
from tests.offsite.conftest import BUCKET, REGION
from tests.offsite.test_copy import backed_up, objects


def with_copy(cfg: Path, endpoint: str, keys: tuple[str, Path]) -> Path:
    cfg.write_text(cfg.read_text().replace("[providers.simhv]", (
        "[[storage.copies]]\nname = \"offsite-s3\"\ntype = \"s3\"\n"
        f"bucket = \"{BUCKET}\"\nprefix = \"prod/\"\nregion = \"{REGION}\"\n"
        f"endpoint_url = \"{endpoint}\"\naccess_key_id_env = \"S3_KEY\"\n"
        "secret_access_key_env = \"S3_SECRET\"\n\n"
        f"[encryption]\nrecipients = [\"{keys[0]}\"]\nidentity_file = \"{keys[1]}\"\n\n"
        "[providers.simhv]")))
    return cfg


def copied_then_lost(agent: Runner, sim: Simulator, s3: Any, tmp_path: Path,
                     keys: tuple[str, Path]) -> Path:
    cfg = with_copy(config_with_nodes(tmp_path, sim), s3.endpoint, keys)
    backed_up(agent, cfg)
    assert agent("--config", str(cfg), "copy")[0] == 0
    shutil.rmtree(tmp_path / "var" / "store")  # the agent's disk is lost; the catalog survives
    return cfg


def backup_path(p: dict[str, Any]) -> dict[str, Any]:
    return p["paths"][path_number(p, "restore-backup") - 1]  # type: ignore[no-any-return]


def test_a_lost_backup_is_offered_from_its_copy_with_the_download(
        agent: Runner, sim: Simulator, s3: Any, tmp_path: Path, age_keys: tuple[str, Path]) -> None:
    cfg = with_copy(config_with_nodes(tmp_path, sim), s3.endpoint, age_keys)
    backed_up(agent, cfg)
    assert agent("--config", str(cfg), "copy")[0] == 0
    local = backup_path(plan(agent, cfg, "--failed", "management"))
    shutil.rmtree(tmp_path / "var" / "store")
    code, out, _ = agent("--config", str(cfg), "evidence", "--failed", "management")
    assert code == 0
    point = next(p for p in json.loads(out)["restore_points"] if p["kind"] == "config-backup")
    assert point["verified"] and point["copy"]["store"] == "offsite-s3" and point["copy"]["bytes"] > 0
    remote = backup_path(plan(agent, cfg, "--failed", "management"))
    assert remote["ready"] and remote["restore_point"] == local["restore_point"]
    assert remote["estimated_minutes"] > local["estimated_minutes"], "the download is in the estimate"
    assert "fetched from off-site store offsite-s3" in json.dumps(remote["steps"])


def test_restore_fetches_from_the_copy(agent: Runner, sim: Simulator, s3: Any, tmp_path: Path,
                                       age_keys: tuple[str, Path]) -> None:
    cfg = copied_then_lost(agent, sim, s3, tmp_path, age_keys)
    rooms, aliases = sim.state.room_count, sim.state.alias_count
    sim.state.set_management_down()
    with Simulator(SimOptions(empty=True, password=PASSWORD)) as fresh:
        n = path_number(plan(agent, cfg, "--failed", "management"), "restore-backup")
        code, out, err = agent("--config", str(cfg), "restore", "--failed", "management",
                               "--path", str(n), "--target-url", fresh.url, "--yes", "--json")
        assert code == 0, (out, err)
        assert json.loads(out)["state"] == "completed"
        assert (fresh.state.room_count, fresh.state.alias_count) == (rooms, aliases)


def test_a_copy_changed_behind_the_agent_is_no_longer_proposed(
        agent: Runner, sim: Simulator, s3: Any, tmp_path: Path, age_keys: tuple[str, Path]) -> None:
    cfg = copied_then_lost(agent, sim, s3, tmp_path, age_keys)
    key = next(k for k in objects(s3) if "/config-backup/" in k and not k.endswith("manifest.json"))
    body = objects(s3)[key]
    s3.put_object(Bucket=BUCKET, Key=key, Body=bytes([body[0] ^ 1]) + body[1:])
    code, out, _ = agent("--config", str(cfg), "verify", "--store", "offsite-s3", "--read-data")
    assert code == 1 and f"{key}: sha256 mismatch" in out
    code, out, _ = agent("--config", str(cfg), "evidence", "--failed", "management")
    point = next(p for p in json.loads(out)["restore_points"] if p["kind"] == "config-backup")
    assert "copy" not in point
    p = plan(agent, cfg, "--failed", "management")
    assert not any(path["kind"] == "restore-backup" and path["ready"] for path in p["paths"])


def test_a_drill_runs_from_the_off_site_store_alone(agent: Runner, sim: Simulator, s3: Any,
                                                    tmp_path: Path, age_keys: tuple[str, Path]) -> None:
    """A new host: an empty storage path, the catalog rebuilt from the bucket, then a drill."""
    copied_then_lost(agent, sim, s3, tmp_path, age_keys)
    new = tmp_path / "new"
    new.mkdir()
    cfg = with_copy(config_with_nodes(new, sim), s3.endpoint, age_keys)
    code, out, err = agent("--config", str(cfg), "catalog", "rebuild", "--from", "offsite-s3")
    assert code == 0, (out, err)
    code, out, err = agent("--config", str(cfg), "drill", "--scenario", "management-lost", "--json")
    assert code == 0, (out, err)
    run = json.loads(out)
    assert run["outcome"] == "completed" and run["summary"]["verification"]["verified"]


def test_a_kit_is_made_on_a_new_host_from_the_copy(agent: Runner, sim: Simulator, s3: Any,
                                                   tmp_path: Path, age_keys: tuple[str, Path]) -> None:
    old = copied_then_lost(agent, sim, s3, tmp_path, age_keys)
    backup = next(rp for rp in listing(agent, old) if rp["kind"] == "config-backup")
    new = tmp_path / "new"
    new.mkdir()
    cfg = with_copy(config_with_nodes(new, sim), s3.endpoint, age_keys)
    assert agent("--config", str(cfg), "catalog", "rebuild", "--from", "offsite-s3")[0] == 0
    code, out, err = agent("--config", str(cfg), "kit", "--checkpoint", backup["id"], "--out",
                           str(new / "kit.age"), "--json")
    assert code == 0, (out, err)
    kit = json.loads(out)
    assert kit["room_export"] and kit["inventory"]
    assert f"{backup['id']}/{backup['files'][0]['name']}" in kit["files"]


def test_copy_with_no_copy_store_configured_is_a_config_error(agent: Runner, sim: Simulator,
                                                              tmp_path: Path) -> None:
    cfg = config_with_nodes(tmp_path, sim)
    code, _, err = agent("--config", str(cfg), "copy")
    assert code == 2 and "no [[storage.copies]] store configured" in err
