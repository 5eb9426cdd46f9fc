"""``[[storage.copies]]`` and ``[encryption]``: bad values are one-line configuration errors."""

from __future__ import annotations

from typing import Any

import pytest

from backup_agent.config import parse
from backup_agent.errors import ConfigError

GOOD_RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"


def doc(copies: list[dict[str, Any]] | None = None, encryption: Any = None) -> dict[str, Any]:
    storage: dict[str, Any] = {"path": "/tmp/x"}
    if copies is not None:
        storage["copies"] = copies
    out: dict[str, Any] = {"storage": storage, "deployments": [
        {"name": "prod", "url": "https://mgr.example.com", "password_env": "PW"}]}
    if encryption is not None:
        out["encryption"] = encryption
    return out


S3 = {"name": "offsite-s3", "type": "s3", "bucket": "b", "prefix": "prod",
      "access_key_id_env": "K", "secret_access_key_env": "S",
      "object_lock": {"mode": "compliance", "days": 30}}


def test_a_full_copy_and_encryption_table_parse() -> None:
    cfg = parse(doc([S3], {"recipients": [GOOD_RECIPIENT], "identity_file": "/run/id"}))
    copy = cfg.copy("offsite-s3")
    assert (copy.type, copy.bucket, copy.prefix, copy.lock_mode, copy.lock_days) == (
        "s3", "b", "prod/", "compliance", 30)
    assert set(copy.secrets) == {"access_key_id", "secret_access_key"}
    assert cfg.encryption is not None and cfg.encryption.recipients == (GOOD_RECIPIENT,)


@pytest.mark.parametrize(("change", "message"), [
    ({"type": "ftp"}, "type: 'ftp' is not one of s3, azure-blob, gcs"),
    ({"bucket": ""}, "bucket: is empty"),
    ({"prefix": "../up"}, "prefix: '../up/' must be relative"),
    ({"object_lock": {"mode": "forever", "days": 3}}, "object_lock.mode: 'forever' is not one of"),
    ({"object_lock": {"mode": "governance", "days": 0}}, "object_lock.days: 0 is out of range"),
    ({"container": "x"}, "unknown key 'container'"),
])
def test_bad_copy_settings_are_config_errors(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse(doc([{**S3, **change}]))


@pytest.mark.parametrize("recipient", [
    "age1notakey", GOOD_RECIPIENT[:-1] + "q", "ssh-ed25519 AAAA", 42])
def test_an_invalid_age_recipient_is_a_config_error(recipient: Any) -> None:
    with pytest.raises(ConfigError, match=r"encryption.recipients\[0\]: .* not a valid age public key"
                       "|is not an age public key"):
        parse(doc([S3], {"recipients": [recipient]}))


def test_two_copies_with_one_name_and_an_unknown_copy_are_refused() -> None:
    with pytest.raises(ConfigError, match="'offsite-s3' appears twice"):
        parse(doc([S3, S3]))
    with pytest.raises(ConfigError, match=r"no \[\[storage.copies\]\] store named 'x'"):
        parse(doc([S3])).copy("x")


@pytest.mark.parametrize(("retention", "message"), [
    ({}, "storage.copies.offsite-s3.retention: must be a table|an empty retention policy"),
    ({"keep_daly": 3}, "storage.copies.offsite-s3.retention: unknown key 'keep_daly'"),
    ({"keep_last": 0}, "storage.copies.offsite-s3.retention.keep_last: expected a whole number"),
    ({"keep_last": 1, "remove_last_copy": "yes"}, "remove_last_copy: expected true or false"),
    ({"room-export": {}}, "storage.copies.offsite-s3.retention.room-export: an empty retention"),
])
def test_bad_copy_retention_is_a_config_error(retention: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(doc([{**S3, "retention": retention}]))


def test_a_copy_retention_table_parses_and_resolves_whole() -> None:
    cfg = parse({**doc([{**S3, "retention": {"keep_daily": 30, "inventory": {"keep_last": 2},
                                             "remove_last_copy": True}}]),
                 "retention": {"keep_last": 3}})
    copy = cfg.copy("offsite-s3")
    assert copy.remove_last_copy and copy.retention is not None
    settings = cfg.service.retention
    policy, source = settings.resolve_copy(copy.name, copy.retention, "prod", "config-backup")
    assert policy is not None and policy.keep_daily == 30 and policy.keep_last is None
    assert source == "storage.copies.offsite-s3.retention"
    assert settings.resolve_copy(copy.name, copy.retention, "prod", "inventory")[1] == \
        "storage.copies.offsite-s3.retention.inventory"
    policy, source = settings.resolve_copy(copy.name, None, "prod", "config-backup")
    assert policy is not None and policy.keep_last == 3 and source == "retention (inherited)"


def test_config_check_shows_each_copy_its_retention_and_the_plaintext_warning() -> None:
    from backup_agent.cli.config_cmd import effective

    cfg = parse({**doc([{**S3, "retention": {"keep_daily": 30}}]), "retention": {"keep_last": 3}})
    data = effective(cfg)
    [copy] = data["copies"]
    assert copy["retention"]["rules"] == {"keep_daily": 30} and copy["object_lock"]["days"] == 30
    assert data["warnings"] == [
        "storage.copies: room exports and inventories are not copied off-site: [encryption] "
        "recipients are needed to copy them (config backups, encrypted by the Management Node, "
        "are copied)"]
    keyed = effective(parse(doc([S3], {"recipients": [GOOD_RECIPIENT]})))
    assert keyed["warnings"] == [] and keyed["copies"][0]["retention"]["from"] == \
        "retention (inherited)"
    # A copy's own retention alone is retention configured: prune and the daemon's job run.
    only_copy = parse(doc([{**S3, "retention": {"keep_last": 2}}]))
    assert only_copy.prunes and not parse(doc([S3])).prunes
    assert effective(only_copy)["deployments"][0]["schedule"]["retention"]["next_run"] is not None
    assert effective(parse(doc([S3])))["deployments"][0]["schedule"]["retention"]["next_run"] is None
