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
