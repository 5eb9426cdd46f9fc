"""``backup-agent kit``: one encrypted bundle, proven to decrypt, nothing in clear."""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from pathlib import Path
from typing import Any

from tests.jobs.conftest import Runner, listing
from tests.offsite.conftest import offsite_config, sim_secrets
from tests.offsite.test_copy import backed_up


def decrypt(path: Path, identity: Path) -> bytes:
    import pyrage

    keys = [pyrage.x25519.Identity.from_str(line) for line in identity.read_text().splitlines()
            if line.startswith("AGE-SECRET-KEY-")]
    return bytes(pyrage.decrypt(path.read_bytes(), keys))


def test_a_kit_holds_backup_rooms_inventory_and_runbook(agent: Runner, sim: Any, s3: Any,
                                                        tmp_path: Path, age_keys: tuple[str, Path]) -> None:
    cfg = offsite_config(tmp_path, sim.url, s3.endpoint, encryption=age_keys)
    backed_up(agent, cfg)
    points = listing(agent, cfg)
    backup = next(p for p in points if p["kind"] == "config-backup")
    out = tmp_path / "kit.age"
    code, stdout, err = agent("--config", str(cfg), "kit", "--checkpoint", backup["id"], "--out",
                              str(out), "--json")
    assert code == 0, (stdout, err)
    assert json.loads(stdout)["decrypts"] is True and out.stat().st_mode & 0o077 == 0
    with tarfile.open(fileobj=io.BytesIO(decrypt(out, age_keys[1]))) as tar:
        names = tar.getnames()
        files = {n: tar.extractfile(n).read() for n in names}  # type: ignore[union-attr]
    for p in points:
        for f in p["files"]:
            assert hashlib.sha256(files[f"{p['id']}/{f['name']}"]).hexdigest() == f["sha256"]
    assert b"Management Node" in files["runbook.md"] and b"age -d" in files["README.txt"]
    raw = out.read_bytes()
    for kind, values in sim_secrets(sim).items():
        for value in values:
            token = rf"(?<![0-9A-Za-z.]){re.escape(value)}(?![0-9A-Za-z])".encode()
            assert not re.search(token, raw), f"a {kind} is in clear in the kit"
    # A second kit onto the same file is refused; the first stays.
    code, _, err = agent("--config", str(cfg), "kit", "--checkpoint", backup["id"], "--out", str(out))
    assert code == 2 and "already exists" in err and out.read_bytes() == raw


def test_a_kit_that_would_not_decrypt_is_not_written(agent: Runner, sim: Any, s3: Any, tmp_path: Path,
                                                     age_keys: tuple[str, Path]) -> None:
    from pyrage import x25519

    other = tmp_path / "other-identity"
    other.write_text(f"{x25519.Identity.generate()}\n")
    cfg = offsite_config(tmp_path, sim.url, s3.endpoint, encryption=(age_keys[0], other))
    backed_up(agent, cfg)
    backup = next(p for p in listing(agent, cfg) if p["kind"] == "config-backup")
    out = tmp_path / "kit.age"
    code, _, err = agent("--config", str(cfg), "kit", "--checkpoint", backup["id"], "--out", str(out))
    assert code == 1 and "does not decrypt with encryption.identity_file" in err
    assert list(tmp_path.glob("*kit.age*")) == [], "nothing left behind"


def test_kit_bad_input(agent: Runner, sim: Any, s3: Any, tmp_path: Path,
                       age_keys: tuple[str, Path]) -> None:
    cfg = offsite_config(tmp_path, sim.url, s3.endpoint, encryption=age_keys)
    backed_up(agent, cfg)
    export = next(p for p in listing(agent, cfg) if p["kind"] == "room-export")
    code, _, err = agent("--config", str(cfg), "kit", "--checkpoint", export["id"], "--out",
                         str(tmp_path / "k"))
    assert code == 2 and "not a config backup" in err
    code, _, err = agent("--config", str(cfg), "kit", "--checkpoint", "cb-nope", "--out",
                         str(tmp_path / "k"))
    assert code == 1 and "no restore point 'cb-nope'" in err
    plain = offsite_config(tmp_path, sim.url, s3.endpoint, encryption=None)
    code, _, err = agent("--config", str(plain), "kit", "--checkpoint", "x", "--out", str(tmp_path / "k"))
    assert code == 2 and "set [encryption]" in err


def test_a_kit_of_a_pre_upgrade_checkpoint_holds_its_parts(agent: Runner, sim: Any, s3: Any,
                                                           tmp_path: Path,
                                                           age_keys: tuple[str, Path]) -> None:
    cfg = offsite_config(tmp_path, sim.url, s3.endpoint, encryption=age_keys)
    code, out, err = agent("--config", str(cfg), "checkpoint", "create", "--json")
    assert code == 0, err
    c = json.loads(out)
    kit = tmp_path / "kit.age"
    code, out, err = agent("--config", str(cfg), "kit", "--checkpoint", c["id"], "--out", str(kit),
                           "--json")
    assert code == 0, err
    parts = {p["kind"]: p["id"] for p in c["parts"]}
    made = json.loads(out)
    assert made["checkpoint"] == parts["config-backup"] and made["room_export"] == parts["room-export"]
    with tarfile.open(fileobj=io.BytesIO(decrypt(kit, age_keys[1]))) as tar:
        assert any(n.startswith(parts["config-backup"] + "/") for n in tar.getnames())
