"""Faults of the copy: an upload cut half-way, a locked object deleted, write-only credentials."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backup_agent import config
from backup_agent.errors import ObjectLocked
from backup_agent.jobs.env import Env
from backup_agent.store import open_copy_store
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


WRITE_ONLY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
    "s3:PutObject", "s3:ListBucket", "s3:AbortMultipartUpload"], "Resource": "*"}]}


def test_credentials_that_write_but_cannot_read_are_reported_by_verify(
        agent: Runner, sim: Any, tmp_path: Path, age_keys: tuple[str, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """moto in process with IAM enforced: a key allowed to put but not get copies, and verify says so."""
    import boto3
    from moto import mock_aws, settings
    from moto.core.authorization import ActionAuthenticatorMixin

    from tests.providers.aws_peers import REGION

    with mock_aws():
        iam = boto3.client("iam", region_name=REGION, aws_access_key_id="testing",
                           aws_secret_access_key="testing")
        iam.create_user(UserName="copier")
        iam.put_user_policy(UserName="copier", PolicyName="write-only",
                            PolicyDocument=json.dumps(WRITE_ONLY))
        key = iam.create_access_key(UserName="copier")["AccessKey"]
        boto3.client("s3", region_name=REGION, aws_access_key_id="testing",
                     aws_secret_access_key="testing").create_bucket(
            Bucket="pexip-backups", CreateBucketConfiguration={"LocationConstraint": REGION})
        monkeypatch.setenv("S3_KEY", key["AccessKeyId"])
        monkeypatch.setenv("S3_SECRET", key["SecretAccessKey"])
        cfg = offsite_config(tmp_path, sim.url, "", encryption=age_keys)
        cfg.write_text(cfg.read_text().replace('endpoint_url = ""\n', ""))
        backed_up(agent, cfg)
        monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
        monkeypatch.setattr(ActionAuthenticatorMixin, "request_count", 0)
        code, out, err = agent("--config", str(cfg), "copy")
        assert code == 0, (out, err)
        code, out, err = agent("--config", str(cfg), "verify", "--store", "offsite-s3", "--json")
    assert code == 1, (out, err)
    results = json.loads(out)
    assert results and all(not r["ok"] and "cannot read it back" in r["problem"]
                           and "access denied" in r["problem"] for r in results)



def test_an_upload_landed_but_not_recorded_is_adopted(agent: Runner, sim: Any, s3: Any, tmp_path: Path,
                                                      age_keys: tuple[str, Path]) -> None:
    """The agent stopped between the upload's commit and its record: the next run adopts the
    object when it hashes right, and refuses one that does not (never overwriting either)."""
    from tests.jobs.conftest import listing

    cfg = offsite_config(tmp_path, sim.url, s3.endpoint, encryption=age_keys)
    backed_up(agent, cfg)
    backup = next(p for p in listing(agent, cfg) if p["kind"] == "config-backup")
    f = backup["files"][0]
    s3.put_object(Bucket="pexip-backups", Key=f"prod/{f['key']}", Body=Path(f["path"]).read_bytes())
    code, out, err = agent("--config", str(cfg), "copy")
    assert code == 0, (out, err)
    assert f"prod/{f['key']}" in {f"prod/{k}" for k in recorded(cfg)}
    assert agent("--config", str(cfg), "verify", "--store", "offsite-s3", "--read-data")[0] == 0
    # Another object in the way, with other bytes: refused, left as it is, retried next run.
    assert agent("--config", str(cfg), "backup")[0] == 0
    newer = next(p for p in listing(agent, cfg) if p["kind"] == "config-backup")
    key = f"prod/{newer['files'][0]['key']}"
    s3.put_object(Bucket="pexip-backups", Key=key, Body=b"someone else's bytes")
    code, out, err = agent("--config", str(cfg), "copy")
    assert code in (1, 3) and "already exists" in err, (out, err)
    assert s3.get_object(Bucket="pexip-backups", Key=key)["Body"].read() == b"someone else's bytes"


def test_a_link_that_comes_back_within_the_retries_costs_no_run(
        agent: Runner, sim: Any, s3: Any, tmp_path: Path, age_keys: tuple[str, Path],
        proxy: CuttingProxy) -> None:
    """The retry policy's pause is where the link comes back: the same run copies everything."""
    from backup_agent.jobs.copy import copy
    from providers.retry import Backoff

    cfg = offsite_config(tmp_path, sim.url, proxy.url, encryption=age_keys)
    backed_up(agent, cfg)
    proxy.heal(cut_after=40_000)
    pauses: list[float] = []

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        proxy.heal()

    env = Env.open(config.load(cfg))
    try:
        run = copy(env, env.config.deployment(), backoff=Backoff(retries=2, sleep=pause))
    finally:
        env.close()
    assert run.outcome == "completed", run.items
    assert pauses, "a cut was met and waited out"
    assert {f"prod/{key}" for key in recorded(cfg)} == set(objects(s3))
