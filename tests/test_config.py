"""agent.toml validation: every bad input ends in one ConfigError naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from backup_agent import config
from backup_agent.errors import ConfigError, SecretError

GOOD = """
[storage]
path = "store"

[[deployments]]
name = "prod"
url = "http://127.0.0.1:8080"
password_env = "T_PEXIP_PW"
passphrase_file = "pp.txt"

[[deployments.nodes]]
name = "mgr01"
role = "management"
provider = "lab"
vm = "pexip-mgr01"

[providers.lab]
type = "sim"
password_env = "T_LAB_PW"
url = "http://127.0.0.1:8080"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "agent.toml"
    p.write_text(text)
    return p


def test_good_config_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config.load(write(tmp_path, GOOD))
    dep = cfg.deployment()
    assert dep.name == "prod" and dep.username == "admin" and dep.verify_tls
    assert cfg.storage_path == tmp_path / "store"
    assert dep.node("mgr01").vm == "pexip-mgr01"
    monkeypatch.setenv("T_LAB_PW", "s3cret")
    assert cfg.providers["lab"].resolved() == {"url": "http://127.0.0.1:8080", "password": "s3cret"}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('name = "prod"', 'name = "prod"\npasword_env = "X"'), "unknown key 'pasword_env'"),
        (lambda t: t.replace('url = "http://127.0.0.1:8080"\npassword_env', 'url = "ftp://x"\npassword_env'), r"is not an http\(s\) URL"),
        (lambda t: t.replace('password_env = "T_PEXIP_PW"\n', ""), "set password_env or password_file"),
        (lambda t: t.replace('role = "management"', 'role = "boss"'), "is not one of"),
        (lambda t: t.replace('provider = "lab"', 'provider = "nope"'), "provider 'nope' is not"),
        (lambda t: t.replace("[storage]", "[storage]\nfoo = 1"), "storage: unknown key 'foo'"),
        (lambda t: t + "\n[bogus]\n", "unknown top-level key 'bogus'"),
        (lambda t: t.replace('url = "http://127.0.0.1:8080"\npassword_env', 'url = "http://u:p@h"\npassword_env'), "not the URL"),
        (lambda t: t.replace('name = "prod"', 'name = "prod"\ntimeout = "fast"'), "timeout: expected int/float"),
        (lambda t: t.replace('name = "prod"', 'name = "prod"\nverify_tls = 1'), "verify_tls: expected bool"),
        (lambda t: t.replace('url = "http://127.0.0.1:8080"\npassword_env', 'url = "http://[::1"\npassword_env'), r"deployments.prod.url: .* is not an http\(s\) URL"),
        (lambda t: t.replace('url = "http://127.0.0.1:8080"\npassword_env', 'url = "http://h:99999"\npassword_env'), r"deployments.prod.url: .* is not an http\(s\) URL"),
        (lambda t: t.replace('path = "store"', 'path = ""'), "storage.path: is empty"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=message):
        config.load(write(tmp_path, edit(GOOD)))


def test_missing_and_malformed_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        config.load(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(write(tmp_path, "[storage\npath="))


def test_secrets_resolve_lazily_and_never_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config.load(write(tmp_path, GOOD))
    dep = cfg.deployment("prod")
    monkeypatch.delenv("T_PEXIP_PW", raising=False)
    with pytest.raises(SecretError, match="T_PEXIP_PW is not set"):
        dep.password.value()  # type: ignore[union-attr]
    with pytest.raises(SecretError, match="cannot read secret file"):
        dep.passphrase.value()  # type: ignore[union-attr]
    (tmp_path / "pp.txt").write_text("hunter2\n")
    monkeypatch.chdir(tmp_path)
    assert dep.passphrase.value() == "hunter2"  # type: ignore[union-attr]
    assert "hunter2" not in repr(dep)


@pytest.mark.parametrize("table", ["schedule", "offsite", "checkpoint", "logging"])
def test_tables_nothing_implements_are_refused(tmp_path: Path, table: str) -> None:
    """They were accepted with any content, so a setting there silently did nothing."""
    with pytest.raises(ConfigError, match=f"unknown top-level key '{table}'") as exc:
        config.load(write(tmp_path, GOOD + f"\n[{table}]\nkeep_days = 30\n"))
    assert f"known: {', '.join(sorted(config.TABLES))})" in str(exc.value)
    assert table not in str(exc.value).split("known:")[1]


@pytest.mark.parametrize(("table", "message"), [
    ('[providers.lab]\ntype = "sim"\nurl = "http://h"\npassword_env = "X"\nurll = "http://h"\n',
     r"providers.lab: unknown key 'urll' for a sim provider \(known: .*url"),
    ('[providers.lab]\ntype = "vmware"\nhost = "vc"\nusername = "u"\npassword_env = "X"\nquiesse = true\n',
     "providers.lab: unknown key 'quiesse' for a vmware provider"),
    ('[providers.lab]\ntype = "hyperv"\nhost = "h"\nusername = "u"\nkey_fil = "k"\n',
     "providers.lab: unknown key 'key_fil' for a hyperv provider"),
    ('[providers.lab]\ntype = "openstack"\n', r"providers.lab.type: unknown provider type 'openstack' \(installed: "),
])
def test_wrong_provider_key_is_found_at_load(tmp_path: Path, table: str, message: str) -> None:
    text = GOOD.split("[providers.lab]")[0] + table
    with pytest.raises(ConfigError, match=message):
        config.load(write(tmp_path, text))


def test_every_provider_declares_its_keys() -> None:
    from providers import registry

    for name in registry.available():
        cls = registry.provider_class(name)
        assert cls.settings_keys, f"provider {name} declares no settings keys"
        assert "type" not in cls.settings_keys


def test_vmware_memory_and_quiesce_load(tmp_path: Path) -> None:
    text = GOOD.split("[providers.lab]")[0] + (
        '[providers.lab]\ntype = "vmware"\nhost = "vc"\nusername = "u"\npassword_env = "X"\n'
        'memory = true\nquiesce = true\n')
    assert config.load(write(tmp_path, text)).providers["lab"].settings["quiesce"] is True


def test_relative_files_resolve_against_the_config_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As storage.path does: cron and systemd run in another working directory."""
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "pp.txt").write_text("hunter2\n")
    (etc / "ca.pem").write_text("not checked here\n")
    (etc / "vs.pw").write_text("vs-secret\n")
    text = GOOD.replace('passphrase_file = "pp.txt"', 'passphrase_file = "pp.txt"\nca_bundle = "ca.pem"')
    text = text.split("[providers.lab]")[0] + (
        '[providers.lab]\ntype = "vmware"\nhost = "vc"\nusername = "u"\npassword_file = "vs.pw"\n'
        'ca_bundle = "ca.pem"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = config.load(write(etc, text))
    dep = cfg.deployment()
    assert dep.passphrase.value() == "hunter2"  # type: ignore[union-attr]
    assert dep.ca_bundle == str(etc / "ca.pem")
    assert cfg.providers["lab"].resolved()["password"] == "vs-secret"
    assert cfg.providers["lab"].settings["ca_bundle"] == str(etc / "ca.pem")
    monkeypatch.chdir(etc)  # a relative --config resolves against where it was loaded
    cfg = config.load("agent.toml")
    monkeypatch.chdir(elsewhere)
    assert cfg.deployment().passphrase.value() == "hunter2"  # type: ignore[union-attr]
