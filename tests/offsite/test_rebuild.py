"""``catalog rebuild --from``: a new host's catalog from the off-site store alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.jobs.conftest import Runner, listing
from tests.offsite.conftest import BUCKET, offsite_config
from tests.offsite.test_verify import copied

SAME = ("id", "kind", "deployment", "taken_at", "version", "build")


def test_rebuild_lists_what_the_old_host_had(agent: Runner, sim: Any, s3: Any, tmp_path: Path,
                                             age_keys: tuple[str, Path]) -> None:
    old = copied(agent, sim, s3, tmp_path, age_keys)
    before = listing(agent, old)
    new = offsite_config(tmp_path / "new", sim.url, s3.endpoint, encryption=age_keys)
    assert listing(agent, new) == []
    code, out, err = agent("--config", str(new), "catalog", "rebuild", "--from", "offsite-s3",
                           "--json")
    assert code == 0, (out, err)
    assert sorted(json.loads(out)["added"]) == sorted(rp["id"] for rp in before)
    after = listing(agent, new)
    assert [{k: rp.get(k) for k in SAME} for rp in after] == \
        [{k: rp.get(k) for k in SAME} for rp in before]
    assert all(not rp["verified"] for rp in after), "its bytes are not on this host"
    assert [[(f["name"], f["sha256"], f["size"]) for f in rp["files"]] for rp in after] == \
        [[(f["name"], f["sha256"], f["size"]) for f in rp["files"]] for rp in before]
    # The sealed fields come back with the identity (the node of a snapshot, an export's counts).
    export = next(rp for rp in after if rp["kind"] == "room-export")
    original = next(rp for rp in before if rp["id"] == export["id"])
    assert export.get("rooms") == original.get("rooms") is not None
    # Twice: nothing added again.
    code, out, _ = agent("--config", str(new), "catalog", "rebuild", "--from", "offsite-s3", "--json")
    assert code == 0 and json.loads(out)["added"] == []
    assert agent("--config", str(new), "verify", "--store", "offsite-s3", "--read-data")[0] == 0


def test_rebuild_without_the_identity_still_lists(agent: Runner, sim: Any, s3: Any, tmp_path: Path,
                                                  age_keys: tuple[str, Path]) -> None:
    """A support engineer with read access and no private key can still list restore points."""
    old = copied(agent, sim, s3, tmp_path, age_keys)
    new = offsite_config(tmp_path / "new", sim.url, s3.endpoint, encryption=None)
    code, _, err = agent("--config", str(new), "catalog", "rebuild", "--from", "offsite-s3")
    assert code == 0, err
    assert {rp["id"] for rp in listing(agent, new)} == {rp["id"] for rp in listing(agent, old)}


def test_an_unreadable_manifest_is_reported_not_fatal(agent: Runner, sim: Any, s3: Any,
                                                      tmp_path: Path, age_keys: tuple[str, Path]) -> None:
    old = copied(agent, sim, s3, tmp_path, age_keys)
    s3.put_object(Bucket=BUCKET, Key="prod/prod/inventory/inv-x/backup-agent-manifest.json",
                  Body=b"{not json")
    new = offsite_config(tmp_path / "new", sim.url, s3.endpoint, encryption=age_keys)
    code, out, err = agent("--config", str(new), "catalog", "rebuild", "--from", "offsite-s3")
    assert code == 3, (out, err)
    assert "unreadable: prod/inventory/inv-x/backup-agent-manifest.json" in out
    assert len(listing(agent, new)) == len(listing(agent, old))


def test_the_manifest_names_the_passphrase_by_reference_and_a_rebuilt_catalog_judges_it(
        agent: Runner, sim: Any, s3: Any, tmp_path: Path, age_keys: tuple[str, Path]) -> None:
    from tests.jobs.conftest import PASSPHRASE
    from tests.offsite.test_copy import objects

    old = copied(agent, sim, s3, tmp_path, age_keys)
    stored = objects(s3)
    assert all(PASSPHRASE.encode() not in body for body in stored.values())
    manifest = next(json.loads(body) for key, body in stored.items()
                    if "/config-backup/" in key and key.endswith("backup-agent-manifest.json"))
    ref = manifest["passphrase_ref"]
    assert ref["config"] == "deployments.prod.passphrase_file" and len(ref["fingerprint"]) == 64
    # A new host without the identity: the reference comes from the manifest in clear.
    new = offsite_config(tmp_path / "new", sim.url, s3.endpoint, encryption=None)
    assert agent("--config", str(new), "catalog", "rebuild", "--from", "offsite-s3")[0] == 0
    backup = manifest["id"]
    code, out, _ = agent("--config", str(new), "evidence", "--failed", "management")
    assert code == 0
    assert "passphrase" not in next(p for p in json.loads(out)["restore_points"] if p["id"] == backup)
    (tmp_path / "new" / "pp").write_text("Not-The-Same-Passphrase")
    code, out, _ = agent("--config", str(new), "evidence", "--failed", "management")
    assert code == 0
    point = next(p for p in json.loads(out)["restore_points"] if p["id"] == backup)
    assert point["passphrase"]["available"] is False, point
    assert PASSPHRASE not in out and "Not-The-Same-Passphrase" not in out
    assert old.exists()
