"""Faults of the copy: an upload cut half-way, a locked object deleted, write-only credentials."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backup_agent import config
from backup_agent.jobs.env import Env
from backup_agent.store import open_copy_store
from backup_agent.store.s3 import ObjectLocked
from tests.jobs.conftest import Runner
from tests.offsite.conftest import offsite_config
from tests.offsite.test_copy import backed_up, objects
from tests.peers.cutting_proxy import CuttingProxy


@pytest.fixture
def proxy(s3: Any) -> Iterator[CuttingProxy]:
    p = CuttingProxy(s3.endpoint, cut_after=1 << 62)
    yield p
    p.close()


def recorded(cfg: Path) -> set[str]:
    env = Env.open(config.load(cfg))
    try:
        return {c.key for c in env.catalog.copies("offsite-s3")}
    finally:
        env.close()


def test_an_upload_cut_half_way_records_nothing_and_is_retried(
        agent: Runner, sim: Any, s3: Any, tmp_path: Path, age_keys: tuple[str, Path],
        proxy: CuttingProxy) -> None:
    cfg = offsite_config(tmp_path, sim.url, proxy.url, encryption=age_keys)
    backed_up(agent, cfg)
    proxy.heal(cut_after=40_000)  # the link drops inside the first large upload
    code, out, err = agent("--config", str(cfg), "copy", "--json")
    assert code in (1, 3), (out, err)
    failed = [i for i in json.loads(out)["items"] if i["outcome"] == "failed"]
    assert failed and all("retried next run" in i["reason"] for i in failed)
    assert all("cannot write" in i["reason"] and "bucket 'pexip-backups'" in i["reason"]
               for i in failed)
    assert "Traceback" not in err
    # Nothing half-written is visible, and what is recorded is exactly what is there.
    assert {f"prod/{key}" for key in recorded(cfg)} == set(objects(s3))
    for item in failed:
        rp_id = item["item"].split(":", 1)[1]
        assert not any(k.endswith(f"{rp_id}/backup-agent-manifest.json") for k in objects(s3))
    proxy.heal()
    code, out, err = agent("--config", str(cfg), "copy", "--json")
    assert code == 0, (out, err)
    assert len(recorded(cfg)) == len(objects(s3))
    assert agent("--config", str(cfg), "verify", "--store", "offsite-s3", "--read-data")[0] == 0


def test_deleting_a_locked_copy_is_reported_as_kept(agent: Runner, sim: Any, s3: Any, tmp_path: Path,
                                                    age_keys: tuple[str, Path]) -> None:
    cfg = offsite_config(tmp_path, sim.url, s3.endpoint, encryption=age_keys, lock=True)
    backed_up(agent, cfg)
    assert agent("--config", str(cfg), "copy")[0] == 0
    for key in objects(s3):
        head = s3.head_object(Bucket="pexip-backups", Key=key)
        assert head["ObjectLockMode"] == "GOVERNANCE", key
    store = open_copy_store(config.load(cfg).copy("offsite-s3"))
    key = next(i.key for i in store.list())
    with pytest.raises(ObjectLocked, match="is kept by its object lock until"):
        store.delete(key)
    assert store.stat(key) is not None
