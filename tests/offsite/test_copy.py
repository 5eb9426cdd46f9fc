"""``backup-agent copy`` to an S3 copy store on moto_server: what lands, what is recorded, retries."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.jobs.conftest import Runner, listing
from tests.offsite.conftest import BUCKET, offsite_config, sim_secrets


def objects(s3: Any) -> dict[str, bytes]:
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
    return out


def backed_up(agent: Runner, cfg: Path) -> None:
    for job in ("backup", "export"):
        code, out, err = agent("--config", str(cfg), job)
        assert code == 0, (out, err)


def test_copy_sends_every_verified_restore_point_once(agent: Runner, sim: Any, s3: Any,
                                                      tmp_path: Path, age_keys: tuple[str, Path]) -> None:
    cfg = offsite_config(tmp_path, sim.url, s3.endpoint, encryption=age_keys)
    backed_up(agent, cfg)
    code, out, err = agent("--config", str(cfg), "copy", "--json")
    assert code == 0, (out, err)
    points = listing(agent, cfg)
    stored = objects(s3)
    for rp in points:
        prefix = f"prod/{rp['deployment']}/{rp['kind']}/{rp['id']}/"
        names = sorted(k[len(prefix):] for k in stored if k.startswith(prefix))
        expected = [f["name"] + ("" if rp["kind"] == "config-backup" else ".age")
                    for f in rp["files"]]
        assert names == sorted([*expected, "backup-agent-manifest.json"]), rp["id"]
    assert all(k.startswith("prod/") for k in stored), "everything inside the prefix"
    # Nothing left: the second run copies nothing and still exits 0.
    code, out, err = agent("--config", str(cfg), "copy", "--json")
    assert code == 0, err
    run = json.loads(out)
    assert run["items"] == [{"item": "offsite-s3", "outcome": "unchanged",
                             "reason": "nothing left to copy"}]
    assert objects(s3).keys() == stored.keys()


def test_no_pin_alias_or_address_in_clear_off_site(agent: Runner, sim: Any, s3: Any,
                                                   tmp_path: Path, age_keys: tuple[str, Path]) -> None:
    """Every object written, and every object's metadata, is scanned for the simulator's secrets."""
    cfg = offsite_config(tmp_path, sim.url, s3.endpoint, encryption=age_keys)
    backed_up(agent, cfg)
    assert agent("--config", str(cfg), "copy")[0] == 0
    found = objects(s3)
    assert len(found) >= 5
    blob = b"\n".join(found.values())
    blob += json.dumps([s3.head_object(Bucket=BUCKET, Key=k).get("Metadata", {})
                        for k in found]).encode()
    secrets = sim_secrets(sim)
    assert all(secrets.values()), "the simulator has PINs, aliases and node addresses"
    for kind, values in secrets.items():
        for value in values:
            token = rf"(?<![0-9A-Za-z.]){re.escape(value)}(?![0-9A-Za-z])".encode()
            assert not re.search(token, blob), f"a {kind} is in clear off-site"
    # The local export does hold them: the scan would have seen them had they been copied plain.
    rooms = next(Path(f["path"]) for rp in listing(agent, cfg) if rp["kind"] == "room-export"
                 for f in rp["files"] if f["name"] == "rooms.json")
    assert any(a.encode() in rooms.read_bytes() for a in secrets["alias"])


def test_without_encryption_only_config_backups_leave(agent: Runner, sim: Any, s3: Any,
                                                      tmp_path: Path) -> None:
    cfg = offsite_config(tmp_path, sim.url, s3.endpoint, encryption=None)
    backed_up(agent, cfg)
    code, out, err = agent("--config", str(cfg), "copy", "--json")
    assert code == 0, err
    skipped = [i for i in json.loads(out)["items"] if i["outcome"] == "skipped"]
    assert {i["item"].split(":")[1].split("-")[0] for i in skipped} == {"re", "inv"}
    assert all(i["reason"] == "not encrypted: [encryption] recipients are needed to copy room "
               "exports and inventories off-site" for i in skipped)
    # Said at config load too, one line on stderr, and by `config check`.
    warned = [line for line in err.splitlines() if "are not copied off-site" in line]
    assert len(warned) == 1 and "[encryption] recipients are needed" in warned[0], err
    code, out, err = agent("--config", str(cfg), "config", "check")
    assert code == 0 and "WARNING: storage.copies: room exports and inventories are not copied " \
        "off-site: [encryption] recipients are needed" in out, (out, err)
    code, out, _ = agent("--config", str(cfg), "config", "check", "--json")
    assert len(json.loads(out)["warnings"]) == 1
    keyed = offsite_config(tmp_path / "keyed", sim.url, s3.endpoint,
                           encryption=("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
                                       tmp_path / "id"))
    code, out, _ = agent("--config", str(keyed), "config", "check", "--json")
    assert code == 0 and json.loads(out)["warnings"] == []
    kinds = {k.split("/")[2] for k in objects(s3)}
    assert kinds == {"config-backup"}


def test_a_wrong_bucket_fails_the_run_and_records_nothing(agent: Runner, sim: Any, s3: Any,
                                                          tmp_path: Path, age_keys: tuple[str, Path]) -> None:
    cfg = offsite_config(tmp_path, sim.url, s3.endpoint, encryption=age_keys, bucket="no-such")
    backed_up(agent, cfg)
    code, _, err = agent("--config", str(cfg), "copy")
    assert code == 1
    assert "bucket 'no-such' does not exist" in err and "Traceback" not in err
    # Fixed: the next run copies everything.
    fixed = offsite_config(tmp_path, sim.url, s3.endpoint, encryption=age_keys)
    assert agent("--config", str(fixed), "copy")[0] == 0
    assert len(objects(s3)) >= 5


def test_copy_of_an_unknown_store_is_a_usage_error(agent: Runner, sim: Any, s3: Any,
                                                   tmp_path: Path) -> None:
    cfg = offsite_config(tmp_path, sim.url, s3.endpoint, encryption=None)
    code, _, err = agent("--config", str(cfg), "copy", "--store", "nope")
    assert code == 2 and "no [[storage.copies]] store named 'nope'" in err


def test_copy_runs_in_the_run_frame(agent: Runner, sim: Any, s3: Any, tmp_path: Path,
                                    age_keys: tuple[str, Path]) -> None:
    """One run per deployment at a time: a copy while a backup holds the lock refuses (exit 4);
    and it needs no Management Node credentials."""
    from backup_agent import config
    from backup_agent.jobs.env import Env
    from backup_agent.jobs.runner import lock_name

    cfg = offsite_config(tmp_path, sim.url, s3.endpoint, encryption=age_keys)
    backed_up(agent, cfg)
    env = Env.open(config.load(cfg))
    try:
        with env.lock(lock_name("prod"), "backup"):
            code, _, err = agent("--config", str(cfg), "copy")
            assert code == 4 and "backup" in err
    finally:
        env.close()
    (tmp_path / "pw").unlink()  # the Management Node's password is not needed to copy
    code, _, err = agent("--config", str(cfg), "copy")
    assert code == 0, err
