"""Per-copy retention: ``prune`` deletes off-site copies by each copy's own policy, on moto_server
(S3 with Object Lock), never the last verified copy of a point gone locally unless told to."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from backup_agent import config
from backup_agent.jobs.env import Env
from tests.jobs.conftest import Runner, listing
from tests.jobs.test_retention import backups_at
from tests.offsite.conftest import BUCKET, offsite_config
from tests.offsite.test_copy import objects

LOCK = 'object_lock = { mode = "governance", days = 30 }\n'


def with_retention(tmp_path: Path, sim: Any, s3: Any, keys: tuple[str, Path], main: str,
                   copy: str, lock: bool = False) -> Path:
    cfg = offsite_config(tmp_path, sim.url, s3.endpoint, encryption=keys, lock=lock)
    text = cfg.read_text()
    # The copy's own table goes inside its [[storage.copies]] entry, before [encryption].
    text = text.replace("\n[encryption]", f"\n[storage.copies.retention]\n{copy}\n[encryption]", 1) \
        if copy else text
    cfg.write_text(text + (f"\n[retention]\n{main}\n" if main else ""))
    return cfg


def copy(agent: Runner, cfg: Path) -> None:
    code, out, err = agent("--config", str(cfg), "copy", "--json")
    assert code == 0, (out, err)


def prune(agent: Runner, cfg: Path, *flags: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = agent("--config", str(cfg), "prune", "--json", *flags)
    return code, json.loads(out)[0] if out.strip() else {}, err


def on(result: dict[str, Any], store: str) -> dict[str, dict[str, Any]]:
    return {p["id"]: p for p in result["points"]
            if p["store"] == store and p["kind"] == "config-backup"}


def in_bucket(s3: Any, rp_id: str) -> list[str]:
    return [k for k in objects(s3) if f"/{rp_id}/" in k]


def copies_of(cfg: Path, rp_id: str) -> set[str]:
    env = Env.open(config.load(cfg))
    try:
        return {c.store for c in env.catalog.copies(rp_id=rp_id)}
    finally:
        env.close()


def test_each_copy_prunes_by_its_own_policy_and_keeps_the_last_copy(
        agent: Runner, sim: Any, s3: Any, tmp_path: Path, age_keys: tuple[str, Path]) -> None:
    cfg = with_retention(tmp_path, sim, s3, age_keys, "keep_last = 3", "keep_last = 1")
    ids = backups_at(cfg, [4, 3, 2, 1])
    copy(agent, cfg)
    code, dry, err = prune(agent, cfg, "--dry-run")
    assert code == 0, err
    local, offsite = on(dry, "local"), on(dry, "offsite-s3")
    assert local[ids[0]]["action"] == "remove" and local[ids[1]]["action"] == "keep"
    assert offsite[ids[3]]["action"] == "keep" and offsite[ids[3]]["policy"] == \
        "storage.copies.offsite-s3.retention"
    assert [offsite[i]["action"] for i in ids[1:3]] == ["remove", "remove"]
    # The oldest goes locally in this run: its copy is the last one, kept.
    assert offsite[ids[0]]["action"] == "keep"
    assert offsite[ids[0]]["reasons"] == ["last verified copy, local bytes gone "
                                          "(remove_last_copy = false)"]
    assert all(in_bucket(s3, i) for i in ids), "a dry run deletes nothing off-site"

    code, done, err = prune(agent, cfg)
    assert code == 0, err
    assert sorted(done["run"]["summary"]["copies_removed"]["offsite-s3"]) == sorted(ids[1:3])
    assert not in_bucket(s3, ids[1]) and not in_bucket(s3, ids[2])
    assert in_bucket(s3, ids[0]) and in_bucket(s3, ids[3])
    assert copies_of(cfg, ids[1]) == set() and copies_of(cfg, ids[0]) == {"offsite-s3"}
    # What retention removed from the store is not copied there again by the next copy.
    code, out, err = agent("--config", str(cfg), "copy", "--json")
    assert code == 0 and json.loads(out)["items"][0]["outcome"] == "unchanged", (out, err)
    assert not in_bucket(s3, ids[1])
    points = {p["id"]: p for p in listing(agent, cfg)}
    assert ids[0] in points, "gone locally, still a restore point by its copy"
    assert points[ids[1]]["copies_removed"]["offsite-s3"]["run"] == done["run"]["id"]
    code, out, err = agent("--config", str(cfg), "evidence", "--failed", "management")
    assert code == 0, err
    point = next(p for p in json.loads(out)["restore_points"] if p["id"] == ids[0])
    assert point["verified"] and point["copy"]["store"] == "offsite-s3"
    assert agent("--config", str(cfg), "verify")[0] == 0, "a point pruned locally is no failure"

    # The policy says so: the last copy goes, and with it the restore point.
    cfg.write_text(cfg.read_text().replace("[storage.copies.retention]\n",
                                           "[storage.copies.retention]\nremove_last_copy = true\n"))
    code, done, err = prune(agent, cfg)
    assert code == 0, err
    assert done["run"]["summary"]["copies_removed"]["offsite-s3"] == [ids[0]]
    assert not in_bucket(s3, ids[0])
    assert ids[0] not in {p["id"] for p in listing(agent, cfg)}


def test_a_copy_without_retention_inherits_the_main_policy(
        agent: Runner, sim: Any, s3: Any, tmp_path: Path, age_keys: tuple[str, Path]) -> None:
    cfg = with_retention(tmp_path, sim, s3, age_keys, "keep_last = 1", "")
    ids = backups_at(cfg, [2, 1])
    copy(agent, cfg)
    code, dry, err = prune(agent, cfg, "--dry-run")
    assert code == 0, err
    offsite = on(dry, "offsite-s3")
    assert offsite[ids[1]]["policy"] == "retention (inherited)"
    assert offsite[ids[0]]["reasons"][0].startswith("last verified copy")


def test_object_lock_keeps_what_it_retains_and_the_run_does_not_fail(
        agent: Runner, sim: Any, s3: Any, tmp_path: Path, age_keys: tuple[str, Path]) -> None:
    unlocked = with_retention(tmp_path, sim, s3, age_keys, "keep_last = 5", "keep_last = 1")
    old = backups_at(unlocked, [3])[0]
    copy(agent, unlocked)  # written before the lock was configured: no retention on it
    cfg = with_retention(tmp_path, sim, s3, age_keys, "keep_last = 5", "keep_last = 1", lock=True)
    middle, new = backups_at(cfg, [2, 1])
    copy(agent, cfg)
    head = s3.head_object(Bucket=BUCKET, Key=in_bucket(s3, middle)[0])
    until = head["ObjectLockRetainUntilDate"]
    code, dry, err = prune(agent, cfg, "--dry-run")
    assert code == 0, err
    offsite = on(dry, "offsite-s3")
    assert offsite[middle]["reasons"] == [f"locked until {until:%Y-%m-%d}"]
    assert offsite[middle]["locked_until"][:10] == f"{until:%Y-%m-%d}"
    assert offsite[old]["action"] == "remove" and offsite[new]["action"] == "keep"

    code, out, err = agent("--config", str(cfg), "prune")
    assert code == 0, (out, err)
    assert f"locked until {until:%Y-%m-%d}" in out and "1 locked" in out
    code, done, err = prune(agent, cfg)
    assert code == 0 and done["run"]["outcome"] == "completed", (done, err)
    items = {i["item"]: i for i in done["run"]["items"]}
    assert items[f"offsite-s3:{middle}"]["outcome"] == "skipped"
    assert items[f"offsite-s3:{middle}"]["reason"] == f"locked until {until:%Y-%m-%d}"
    assert not in_bucket(s3, old) and in_bucket(s3, middle)


def test_a_delete_the_lock_refuses_is_reported_kept(tmp_path: Path, sim: Any, s3: Any,
                                                    age_keys: tuple[str, Path]) -> None:
    """The store refuses though the HEAD said nothing (a bucket default, a race): kept, reported."""
    from backup_agent.jobs import retention
    from backup_agent.store import open_copy_store

    cfg = with_retention(tmp_path, sim, s3, age_keys, "keep_last = 5", "keep_last = 1", lock=True)
    old, _new = backups_at(cfg, [2, 1])
    env = Env.open(config.load(cfg))
    try:
        from backup_agent.jobs.copy import copy as copy_job
        assert copy_job(env, env.config.deployment()).outcome == "completed"

        def blind(target: Any) -> Any:
            store = open_copy_store(target)
            store.retained_until = lambda key: None  # the HEAD misses the lock
            return store

        _, run = retention.prune(env, env.config.deployment(), open_remote=blind)
        assert run is not None and run.outcome == "completed", run.to_dict() if run else None
        outcome, reason = run.items[f"offsite-s3:{old}"]
        assert outcome == "skipped" and "kept by its object lock until" in str(reason)
    finally:
        env.close()
    assert in_bucket(s3, old)


def test_list_and_status_show_each_copy_with_its_lock(
        agent: Runner, sim: Any, s3: Any, tmp_path: Path, age_keys: tuple[str, Path]) -> None:
    cfg = with_retention(tmp_path, sim, s3, age_keys, "keep_last = 1", "", lock=True)
    old, new = backups_at(cfg, [2, 1])
    copy(agent, cfg)
    until = s3.head_object(Bucket=BUCKET, Key=in_bucket(s3, new)[0])["ObjectLockRetainUntilDate"]
    points = {p["id"]: p for p in listing(agent, cfg)}
    [shown] = points[new]["copies"]
    assert shown["store"] == "offsite-s3" and shown["complete"] and shown["verified"]
    assert shown["locked_until"][:10] == f"{until:%Y-%m-%d}"
    code, out, _ = agent("--config", str(cfg), "list")
    assert code == 0 and f"offsite-s3 (locked until {until:%Y-%m-%d})" in out
    assert agent("--config", str(cfg), "prune")[0] == 0  # the old one goes locally, kept off-site
    code, out, _ = agent("--config", str(cfg), "list")
    line = next(row for row in out.splitlines() if row.startswith(old))
    assert "off-site only" in line and "offsite-s3" in line
    code, out, _ = agent("--config", str(cfg), "status", "--no-probe", "--json")
    newest = json.loads(out)[0]["newest"]["config-backup"]
    assert newest["id"] == new and newest["copies"][0]["locked_until"] == shown["locked_until"]
    code, out, _ = agent("--config", str(cfg), "status", "--no-probe")
    assert f"copies: offsite-s3 (locked until {until:%Y-%m-%d})" in out


def test_an_unreachable_copy_store_fails_its_items_and_forgets_nothing(
        agent: Runner, sim: Any, s3: Any, tmp_path: Path, age_keys: tuple[str, Path]) -> None:
    cfg = with_retention(tmp_path, sim, s3, age_keys, "keep_last = 5", "keep_last = 1")
    old, _new = backups_at(cfg, [2, 1])
    copy(agent, cfg)
    good = cfg.read_text()
    cfg.write_text(good.replace(f'bucket = "{BUCKET}"', 'bucket = "no-such-bucket"'))
    code, out, err = agent("--config", str(cfg), "prune", "--json")
    assert code == 3, (out, err)  # partially failed: the local part ran, the copy's did not
    items = {i["item"]: i for i in json.loads(out)[0]["run"]["items"]}
    failed = items[f"offsite-s3:{old}"]
    assert failed["outcome"] == "failed"
    assert failed["reason"] == "offsite-s3: bucket 'no-such-bucket' does not exist"
    assert "Traceback" not in err and "internal error" not in err, err
    assert in_bucket(s3, old) and copies_of(cfg, old) == {"offsite-s3"}, "nothing forgotten"
    cfg.write_text(good)  # fixed: the next run removes it
    code, done, err = prune(agent, cfg)
    assert code == 0 and done["run"]["summary"]["copies_removed"] == {"offsite-s3": [old]}, err
    assert not in_bucket(s3, old)


CRASH = """
import os, sys
from backup_agent import config
from backup_agent.jobs.env import Env
from backup_agent.jobs import retention
from backup_agent.store import open_copy_store
env = Env.open(config.load(sys.argv[1]))
calls = []

def remote(target):
    store = open_copy_store(target)
    def delete(key):
        calls.append(key)
        if len(calls) == 2:
            os._exit(9)   # dies between the manifest and the files of a copy
        type(store).delete(store, key)
    store.delete = delete
    return store

if sys.argv[2] == "local":
    env.store.delete = lambda key: os._exit(9)  # dies deleting the local bytes of a copied point
retention.prune(env, env.config.deployment(), open_remote=remote)
"""


def crash_pruning(cfg: Path, where: str) -> None:
    """A prune in a process of its own that dies (exit 9) deleting ``where``'s bytes."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", CRASH, str(cfg), where],
                          cwd=Path(__file__).resolve().parents[2], capture_output=True, check=False)
    assert done.returncode == 9, done.stderr


def test_a_crash_while_removing_leaves_the_copy_recorded_and_the_next_run_finishes(
        agent: Runner, sim: Any, s3: Any, tmp_path: Path, age_keys: tuple[str, Path]) -> None:
    cfg = with_retention(tmp_path, sim, s3, age_keys, "keep_last = 5", "keep_last = 1")
    old, new = backups_at(cfg, [2, 1])
    copy(agent, cfg)
    crash_pruning(cfg, "copy")
    assert copies_of(cfg, old) == {"offsite-s3"}, "nothing forgotten that is still there"
    assert not any(k.endswith("manifest.json") for k in in_bucket(s3, old)), "manifest first"
    code, result, err = prune(agent, cfg)
    assert code == 0, err
    assert result["run"]["summary"]["copies_removed"] == {"offsite-s3": [old]}
    assert not in_bucket(s3, old) and copies_of(cfg, old) == set()
    assert {p["id"] for p in listing(agent, cfg)} >= {old, new}, "its local bytes remain"


def test_a_crash_removing_the_local_bytes_of_a_copied_point_is_swept(
        agent: Runner, sim: Any, s3: Any, tmp_path: Path, age_keys: tuple[str, Path]) -> None:
    cfg = with_retention(tmp_path, sim, s3, age_keys, "keep_last = 1", "keep_last = 5")
    old, _new = backups_at(cfg, [2, 1])
    copy(agent, cfg)
    crash_pruning(cfg, "local")
    assert old in {p["id"] for p in listing(agent, cfg)}, "still a restore point (its copy)"
    code, result, err = prune(agent, cfg)
    assert code == 0, err
    assert f"sweep {old}" in {i["item"] for i in result["run"]["items"]}
    code, out, _ = agent("--config", str(cfg), "list")
    assert "off-site only" in next(r for r in out.splitlines() if r.startswith(old))
    assert agent("--config", str(cfg), "verify")[0] == 0
