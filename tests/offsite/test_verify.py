"""``verify --store``: every bad or missing object named; verdicts recorded; bad input refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.jobs.conftest import Runner
from tests.offsite.conftest import BUCKET, offsite_config
from tests.offsite.test_copy import backed_up, objects


def copied(agent: Runner, sim: Any, s3: Any, tmp_path: Path, age_keys: tuple[str, Path]) -> Path:
    cfg = offsite_config(tmp_path, sim.url, s3.endpoint, encryption=age_keys)
    backed_up(agent, cfg)
    assert agent("--config", str(cfg), "copy")[0] == 0
    return cfg


def test_verify_reads_every_copy_back(agent: Runner, sim: Any, s3: Any, tmp_path: Path,
                                      age_keys: tuple[str, Path]) -> None:
    cfg = copied(agent, sim, s3, tmp_path, age_keys)
    for extra in ([], ["--read-data"]):
        code, out, err = agent("--config", str(cfg), "verify", "--store", "offsite-s3", *extra,
                               "--json")
        assert code == 0, (out, err)
        results = json.loads(out)
        assert len(results) == len(objects(s3)) and all(r["ok"] for r in results)


def test_verify_names_every_bad_and_missing_object(agent: Runner, sim: Any, s3: Any, tmp_path: Path,
                                                   age_keys: tuple[str, Path]) -> None:
    cfg = copied(agent, sim, s3, tmp_path, age_keys)
    keys = sorted(k for k in objects(s3) if not k.endswith("manifest.json"))
    changed, gone, shorter = keys[0], keys[1], keys[2]
    body = objects(s3)[changed]
    s3.put_object(Bucket=BUCKET, Key=changed, Body=bytes([body[0] ^ 1]) + body[1:])  # same size
    s3.put_object(Bucket=BUCKET, Key=shorter, Body=b"short")
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix=gone)["Versions"]
    s3.delete_object(Bucket=BUCKET, Key=gone, VersionId=versions[0]["VersionId"],
                     BypassGovernanceRetention=True)
    code, out, err = agent("--config", str(cfg), "verify", "--store", "offsite-s3", "--read-data")
    assert code == 1, (out, err)
    assert f"s3://{BUCKET}/{changed}: sha256 mismatch" in out
    assert f"s3://{BUCKET}/{gone}: missing" in out
    assert f"s3://{BUCKET}/{shorter}: size 5 !=" in out
    assert f"{len(objects(s3)) - 2} of {len(objects(s3)) + 1} objects" in out
    # Without --read-data the same-size change is not seen; the others are.
    code, out, _ = agent("--config", str(cfg), "verify", "--store", "offsite-s3")
    assert code == 1 and "missing" in out and "size 5" in out


def test_a_subset_checks_a_share_at_random(agent: Runner, sim: Any, s3: Any, tmp_path: Path,
                                           age_keys: tuple[str, Path]) -> None:
    cfg = copied(agent, sim, s3, tmp_path, age_keys)
    total = len(objects(s3))
    code, out, _ = agent("--config", str(cfg), "verify", "--store", "offsite-s3", "--subset", "10%",
                         "--json")
    assert code == 0 and len(json.loads(out)) == max(1, -(-total // 10))
    for bad in ("0%", "150%", "lots"):
        code, _, err = agent("--config", str(cfg), "verify", "--store", "offsite-s3", "--subset", bad)
        assert code == 2 and "--subset" in err
    code, _, err = agent("--config", str(cfg), "verify", "--read-data")
    assert code == 2 and "go with --store" in err
