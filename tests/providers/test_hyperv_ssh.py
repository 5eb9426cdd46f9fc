# ruff: noqa: F811 - fixtures are imported from tests/peers/hyperv/fixtures.py, then requested by name
"""The Hyper-V provider's SSH side: credentials, host key checks and settings, against real servers."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization

from providers.base import AuthFailed, ProviderConfigError, Unreachable
from providers.hyperv import HyperVProvider, fingerprint
from tests.peers.hyperv import peer
from tests.peers.hyperv.fixtures import (  # noqa: F401 - fixtures
    fast_host,
    host,
    known_hosts_line,
    make_fast,
    make_provider,
    paramiko_peer,
    sshd_peer,
    write_known_hosts,
)

Make = Callable[..., HyperVProvider]
pytestmark = pytest.mark.peer("sshd")


def test_wrong_password_is_auth_failed_without_the_password(make_provider: Make) -> None:
    with pytest.raises(AuthFailed, match="refused the credentials of user") as err:
        make_provider(key=None, password="not-the-password-42").list()
    assert "not-the-password-42" not in str(err.value)


def test_wrong_key_is_auth_failed(make_provider: Make) -> None:
    other, _ = peer.new_key()
    with pytest.raises(AuthFailed):
        make_provider(key=other).list()


def test_encrypted_key_needs_its_passphrase(make_provider: Make, host: peer.Peer) -> None:
    raw = serialization.load_ssh_private_key(host.client_key.encode(), password=None)
    locked = raw.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                               serialization.BestAvailableEncryption(b"pass-phrase-7")).decode()
    with pytest.raises(ProviderConfigError, match="encrypted; set key_passphrase"):
        make_provider(key=locked).list()
    with pytest.raises(ProviderConfigError, match="cannot read the private key") as err:
        make_provider(key=locked, key_passphrase="wrong-phrase-9").list()
    assert "wrong-phrase-9" not in str(err.value)
    assert make_provider(key=locked, key_passphrase="pass-phrase-7").list() == []


def test_known_hosts_accepts_the_right_key(make_provider: Make, host: peer.Peer, tmp_path: Path) -> None:
    path = write_known_hosts(tmp_path, known_hosts_line(host))
    assert make_provider(host_key_fingerprint=None, known_hosts=path).list() == []


def test_host_key_mismatch_refused(make_provider: Make, host: peer.Peer, tmp_path: Path) -> None:
    _, impostor = peer.new_key()
    path = write_known_hosts(tmp_path, known_hosts_line(host, impostor))
    with pytest.raises(Unreachable, match=re.escape(f"but known_hosts has {fingerprint(impostor)}; refusing")):
        make_provider(host_key_fingerprint=None, known_hosts=path).list()
    # trusting unknown keys never extends to a key that contradicts known_hosts
    with pytest.raises(Unreachable, match="refusing"):
        make_provider(host_key_fingerprint=None, known_hosts=path, trust_unknown_host_key=True).list()


def test_pinned_fingerprint_mismatch_refused(make_provider: Make, host: peer.Peer) -> None:
    _, impostor = peer.new_key()
    with pytest.raises(Unreachable, match=re.escape(f"{fingerprint(host.host_key)}, not the pinned")):
        make_provider(host_key_fingerprint=fingerprint(impostor)).list()


def test_unknown_host_key_refused_by_default(make_provider: Make, host: peer.Peer, tmp_path: Path) -> None:
    path = write_known_hosts(tmp_path, "[other.example]:22 " + known_hosts_line(host).split(" ", 1)[1])
    with pytest.raises(Unreachable, match="is not in known_hosts; refusing"):
        make_provider(host_key_fingerprint=None, known_hosts=path).list()
    with pytest.raises(Unreachable, match="is not in known_hosts"):
        make_provider(host_key_fingerprint=None, known_hosts=str(tmp_path / "absent")).list()
    assert Path(path).read_text().startswith("[other.example]"), "known_hosts is never written"


def test_default_known_hosts_is_users_and_refuses_unknown(make_provider: Make, host: peer.Peer,
                                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(Unreachable, match="is not in known_hosts; refusing"):
        make_provider(host_key_fingerprint=None).list()
    (tmp_path / ".ssh").mkdir()
    write_known_hosts(tmp_path / ".ssh", known_hosts_line(host))
    assert make_provider(host_key_fingerprint=None).list() == []


def test_trust_unknown_host_key_is_explicit_and_warns(make_provider: Make, host: peer.Peer, tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    empty = write_known_hosts(tmp_path, "")
    with caplog.at_level(logging.WARNING, logger="providers.hyperv"):
        assert make_provider(host_key_fingerprint=None, known_hosts=empty,
                             trust_unknown_host_key=True).list() == []
    assert fingerprint(host.host_key) in caplog.text and "trusting unknown host key" in caplog.text
    with pytest.raises(ProviderConfigError, match="trust_unknown_host_key must be true or false"):
        make_provider(trust_unknown_host_key="yes")


def test_refused_connection_is_unreachable(make_provider: Make) -> None:
    with pytest.raises(Unreachable, match=r"cannot reach SSH on 127\.0\.0\.1:\d+"):
        make_provider(port=peer.free_port()).list()


def test_paramiko_server_password(make_fast: Make, fast_host: peer.Peer) -> None:
    assert [r.vm for r in make_fast().list("pexip-mgr01")] == []
    with pytest.raises(AuthFailed) as err:
        make_fast(password="guess-" + peer.PASSWORD).list()
    assert peer.PASSWORD not in str(err.value)
    _, impostor = peer.new_key()
    with pytest.raises(Unreachable, match="not the pinned"):
        make_fast(host_key_fingerprint=fingerprint(impostor)).list()


@pytest.mark.parametrize(("settings", "message"), [
    ({"username": "u", "password": "p"}, "missing setting 'host'"),
    ({"host": "h", "password": "p"}, "missing setting 'username'"),
    ({"host": "h", "username": "u"}, "set password_env/password_file or key_file/key_env"),
    ({"host": "h", "username": "u", "password": "p", "hots": "x"}, r"unknown setting\(s\) hots"),
    ({"host": "h", "username": "u", "password": "p", "host_key_fingerprint": "MD5:aa"}, "SHA256"),
    ({"host": "h", "username": "u", "key": "not a key"}, "cannot read the private key"),
])
def test_bad_settings(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ProviderConfigError, match=message):
        HyperVProvider(settings)._connect()


def test_fingerprint_matches_openssh(tmp_path: Path) -> None:
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        pytest.skip("ssh-keygen (openssh-client) is not installed")
    _, key = peer.new_key()
    pub = tmp_path / "key.pub"
    pub.write_text(f"{key.get_name()} {key.get_base64()}\n")
    out = subprocess.run([keygen, "-lf", str(pub)], capture_output=True, text=True, check=True).stdout
    assert out.split()[1] == fingerprint(key)


def test_agent_toml_settings_parallel_snapshots_and_tags(host: peer.Peer, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """agent.toml (key_file, key_passphrase_env, known_hosts) -> config -> snapshots.take."""
    from tests.peers.hyperv.fixtures import CONF
    from tests.providers.via_agent import check_tags_round_trip, take_through_agent

    raw = serialization.load_ssh_private_key(host.client_key.encode(), password=None)
    key = tmp_path / "id_hyperv"
    key.write_bytes(raw.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                      serialization.BestAvailableEncryption(b"pass-phrase-7")))
    monkeypatch.setenv("BA_HV_PASSPHRASE", "pass-phrase-7")
    table = (f'type = "hyperv"\nhost = "{host.host}"\nport = {host.port}\nusername = "{host.user}"\n'
             f'key_file = "{key}"\nkey_passphrase_env = "BA_HV_PASSPHRASE"\n'
             f'known_hosts = "{write_known_hosts(tmp_path, known_hosts_line(host))}"\n'
             f'checkpoint_type = "Production"\ntimeout = 30\nconnect_timeout = 10\n')
    result = take_through_agent(tmp_path, table, ["pexip-mgr01", CONF])
    try:
        check_tags_round_trip(result)
    finally:
        result.env.close()


def _open_transports(port: int) -> list[paramiko.Transport]:
    return [t for t in threading.enumerate() if isinstance(t, paramiko.Transport) and t.is_active()
            and not t.server_mode and t.getpeername()[1] == port]


def test_parallel_calls_then_close_leave_no_connection(make_fast: Make, fast_host: peer.Peer) -> None:
    """snapshots.take shares one provider between threads: connections opened by concurrent
    calls are reused afterwards, and close() ends every one of them."""
    prov = make_fast()
    start = threading.Barrier(8)

    def one(_: int) -> int:
        start.wait()
        return len(prov.list())

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(one, range(8))) == [0] * 8
    opened = len(_open_transports(fast_host.port))
    assert 1 <= opened <= 8
    for _ in range(3):
        assert prov.list() == []
    assert len(_open_transports(fast_host.port)) == opened  # reused, not reopened
    prov.close()
    prov.close()
    deadline = time.monotonic() + 5
    while _open_transports(fast_host.port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _open_transports(fast_host.port) == []


def test_known_hosts_file_in_agent_toml_is_honoured(host: peer.Peer, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """``known_hosts_file = PATH`` is what users write; the config loader hands the provider the
    file's text as ``known_hosts``. It must check host keys against it, not treat the text
    as a missing path and refuse every host."""
    from tests.providers.via_agent import take_through_agent

    key = tmp_path / "id_hyperv"
    key.write_text(host.client_key)
    good = write_known_hosts(tmp_path, "# comment\n\n" + known_hosts_line(host))
    table = (f'type = "hyperv"\nhost = "{host.host}"\nport = {host.port}\nusername = "{host.user}"\n'
             f'key_file = "{key}"\nknown_hosts_file = "{good}"\ntimeout = 30\n')
    result = take_through_agent(tmp_path, table, ["pexip-mgr01"], parallel=1)
    result.env.close()
    _, other_key = peer.new_key()
    bad = tmp_path / "bad_known_hosts"
    bad.write_text(known_hosts_line(host, other_key))
    prov = HyperVProvider({"host": host.host, "port": host.port, "username": host.user,
                           "key": host.client_key, "known_hosts": bad.read_text()})
    with pytest.raises(Unreachable, match="but known_hosts has"):
        prov.list()
