"""copy, verify --store and catalog rebuild to Azure Blob (Azurite) and GCS (the emulator)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.jobs.conftest import Runner, listing, write_config
from tests.offsite.test_copy import backed_up
from tests.store.azure_peers import azurite, connection_string, new_container
from tests.store.gcs_peers import gcs_emulator, new_bucket

__all__ = ["azurite", "gcs_emulator"]


def clouds_config(tmp_path: Path, url: str, azure: str, gcs: str, keys: tuple[str, Path],
                  monkeypatch: pytest.MonkeyPatch, storage: str = "var") -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("AZ_CONN", connection_string(azure))
    cfg = write_config(tmp_path, url)
    text = cfg.read_text().replace(f'path = "{tmp_path / "var"}"', f'path = "{tmp_path / storage}"')
    text += ('\n[[storage.copies]]\nname = "offsite-azure"\ntype = "azure-blob"\n'
             f'container = "{made_for(azure, "az")}"\nprefix = "prod/"\nconnection_string_env = "AZ_CONN"\n'
             '\n[[storage.copies]]\nname = "offsite-gcs"\ntype = "gcs"\n'
             f'bucket = "{made_for(gcs, "gcs")}"\nprefix = "prod/"\nendpoint_url = "{gcs}"\n'
             f'\n[encryption]\nrecipients = ["{keys[0]}"]\nidentity_file = "{keys[1]}"\n')
    cfg.write_text(text)
    return cfg


_made: dict[str, str] = {}


def made_for(url: str, kind: str) -> str:
    """One container or bucket per peer per test session (made on first use)."""
    if url not in _made:
        _made[url] = new_bucket(url) if kind == "gcs" else f"az-{len(_made)}-copies"
        if kind == "az":
            new_container(url, _made[url])
    return _made[url]


def test_copy_verify_and_rebuild_on_azure_and_gcs(agent: Runner, sim: Any, azurite: str,
                                                  gcs_emulator: str, tmp_path: Path,
                                                  age_keys: tuple[str, Path],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = clouds_config(tmp_path, sim.url, azurite, gcs_emulator, age_keys, monkeypatch)
    backed_up(agent, cfg)
    code, out, err = agent("--config", str(cfg), "copy", "--json")
    assert code == 0, (out, err)
    copied = json.loads(out)["summary"]["copied"]
    assert copied["offsite-azure"] == copied["offsite-gcs"] == len(listing(agent, cfg))
    for store in ("offsite-azure", "offsite-gcs"):
        code, out, err = agent("--config", str(cfg), "verify", "--store", store, "--read-data",
                               "--json")
        assert code == 0 and all(r["ok"] for r in json.loads(out)), (out, err)
    new = clouds_config(tmp_path / "new", sim.url, azurite, gcs_emulator, age_keys, monkeypatch)
    code, out, err = agent("--config", str(new), "catalog", "rebuild", "--from", "offsite-gcs",
                           "--json")
    assert code == 0, (out, err)
    assert sorted(json.loads(out)["added"]) == sorted(rp["id"] for rp in listing(agent, cfg))
    code, out, _ = agent("--config", str(cfg), "copy", "--store", "offsite-azure", "--json")
    assert code == 0 and json.loads(out)["items"][0]["outcome"] == "unchanged"


def test_a_write_only_sas_copies_and_verify_reports_it(agent: Runner, sim: Any, azurite: str,
                                                       tmp_path: Path, age_keys: tuple[str, Path],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """account_url + sas_token_env, with a SAS that may create and write blobs but not read them."""
    from datetime import UTC, datetime, timedelta

    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    from tests.store.azure_peers import ACCOUNT, KEY

    container = "write-only-copies"
    new_container(azurite, container)
    sas = generate_container_sas(ACCOUNT, container, account_key=KEY,
                                 permission=ContainerSasPermissions(write=True, create=True),
                                 expiry=datetime.now(UTC) + timedelta(hours=1))
    monkeypatch.setenv("AZ_SAS", sas)
    cfg = write_config(tmp_path, sim.url)
    cfg.write_text(cfg.read_text() + (
        '\n[[storage.copies]]\nname = "offsite-azure"\ntype = "azure-blob"\n'
        f'container = "{container}"\naccount_url = "{azurite}/{ACCOUNT}"\nsas_token_env = "AZ_SAS"\n'
        f'\n[encryption]\nrecipients = ["{age_keys[0]}"]\n'))
    backed_up(agent, cfg)
    code, out, err = agent("--config", str(cfg), "copy")
    assert code == 0, (out, err)
    code, out, err = agent("--config", str(cfg), "verify", "--store", "offsite-azure", "--json")
    assert code == 1, (out, err)
    results = json.loads(out)
    assert results and all("cannot read it back" in r["problem"] and "access denied" in r["problem"]
                           for r in results)
    signature = sas.split("sig=")[1].split("&")[0]
    assert signature not in out + err and "sig=" not in out + err, "the SAS token is a secret"
    assert agent("--config", str(cfg), "verify", "--store", "offsite-azure")[1].count("sig=") == 0


def test_copy_retention_on_azure_and_gcs_never_drops_both_last_copies(
        agent: Runner, sim: Any, azurite: str, gcs_emulator: str, tmp_path: Path,
        age_keys: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The main policy keeps one; Azure inherits it, GCS has its own. The old point goes locally
    and from Azure (GCS still has it), and GCS keeps the last verified copy."""
    from tests.jobs.test_retention import backups_at

    cfg = clouds_config(tmp_path, sim.url, azurite, gcs_emulator, age_keys, monkeypatch)
    text = cfg.read_text().replace('\n[encryption]', '\n[storage.copies.retention]\nkeep_last = 1\n'
                                   '\n[encryption]')
    cfg.write_text(text + "\n[retention]\nkeep_last = 1\n")
    old, new = backups_at(cfg, [2, 1])
    assert agent("--config", str(cfg), "copy")[0] == 0
    code, out, err = agent("--config", str(cfg), "prune", "--json")
    assert code == 0, (out, err)
    result = json.loads(out)[0]
    got = {(p["store"], p["id"]): p for p in result["points"] if p["kind"] == "config-backup"}
    assert got[("local", old)]["action"] == "remove"
    assert got[("offsite-azure", old)]["action"] == "remove"
    assert got[("offsite-azure", old)]["policy"] == "retention (inherited)"
    assert got[("offsite-gcs", old)]["reasons"][0].startswith("last verified copy")
    assert got[("offsite-gcs", new)]["policy"] == "storage.copies.offsite-gcs.retention"
    assert result["run"]["summary"]["copies_removed"] == {"offsite-azure": [old]}
    from backup_agent import config
    from backup_agent.jobs.env import Env
    from backup_agent.store import open_copy_store

    env = Env.open(config.load(cfg))
    try:
        azure = open_copy_store(env.config.copy("offsite-azure"))
        gcs = open_copy_store(env.config.copy("offsite-gcs"))
        assert not [o for o in azure.list() if f"/{old}/" in o.key]
        assert [o for o in gcs.list() if f"/{old}/" in o.key]
        assert {c.store for c in env.catalog.copies(rp_id=old)} == {"offsite-gcs"}
    finally:
        env.close()
    code, out, err = agent("--config", str(cfg), "evidence", "--failed", "management")
    assert code == 0, err
    point = next(p for p in json.loads(out)["restore_points"] if p["id"] == old)
    assert point["verified"] and point["copy"]["store"] == "offsite-gcs", \
        "gone locally and from Azure, still offered from GCS"


def test_a_copy_store_taken_out_of_the_config_does_not_count_as_a_copy(
        agent: Runner, sim: Any, azurite: str, gcs_emulator: str, tmp_path: Path,
        age_keys: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.jobs.test_retention import backups_at

    cfg = clouds_config(tmp_path, sim.url, azurite, gcs_emulator, age_keys, monkeypatch)
    cfg.write_text(cfg.read_text() + "\n[retention]\nkeep_last = 1\n")
    # Other days than the test above: the session shares its container and bucket, and a
    # restore point id is its time.
    old, _new = backups_at(cfg, [6, 5])
    assert agent("--config", str(cfg), "copy")[0] == 0
    text = cfg.read_text()
    start = text.index('\n[[storage.copies]]\nname = "offsite-gcs"')
    cfg.write_text(text[:start] + "\n" + text[text.index("\n[encryption]"):])
    code, out, err = agent("--config", str(cfg), "prune", "--json")
    assert code == 0, (out, err)
    got = {(p["store"], p["id"]): p for p in json.loads(out)[0]["points"]}
    assert got[("offsite-azure", old)]["action"] == "keep"
    assert got[("offsite-azure", old)]["reasons"][0].startswith("last verified copy")
    assert ("offsite-gcs", old) not in got
