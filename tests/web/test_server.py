"""The daemon serves the web app (uvicorn on its thread): the probes as before, the rest guarded."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from backup_agent.sim import Simulator
from tests.daemon.conftest import Daemon
from tests.web.apikit import OPERATOR, assert_no_leak, start


def test_probes_answer_as_before_without_a_token_and_the_rest_is_refused(
        sim: Simulator, tmp_path: Path, daemons: list[Daemon]) -> None:
    web = start(tmp_path, sim.url, daemons, tokens="")
    health = web.get("/healthz", token=None)
    assert health.status == 200 and health.headers["content-type"] == "application/json"
    assert health.body == json.dumps({"ok": True, "scheduler": "running"}, sort_keys=True).encode() + b"\n"
    ready = web.get("/readyz", token=None)
    assert ready.status == 200 and ready.json() == {"ok": True, "config": "loaded", "store": "writable",
                                                     "catalog": "open"}
    metrics = web.get("/metrics", token=None)
    assert metrics.status == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert "backup_agent_" in metrics.text
    # No token configured and no auth = "none": the API and the console are refused.
    refused = web.get("/api/v1/deployments", token=None)
    assert refused.status == 401 and "[[daemon.tokens]]" in refused.json()["error"]
    page = web.get("/", token=None)
    assert page.status == 303 and page.headers["location"] == "/signin?next=/"
    signin = web.get("/signin", token=None)
    assert signin.status == 200 and "<form" in signin.text and "prod" not in signin.text
    missing = web.get("/nowhere", token=None)
    assert missing.status == 404 and missing.json() == {"error": "not found"}
    assert web.daemon.stop() == 0
    assert "Traceback" not in web.daemon.stderr()


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made here (no openssl, no network)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "backup-agent test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "console.crt", folder / "console.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    return cert_file, key_file


def _healthcheck() -> Any:
    import importlib.machinery
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "deploy" / "container" / "backup-agent-healthcheck"
    loader = importlib.machinery.SourceFileLoader("backup_agent_healthcheck", str(path))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_tls_from_a_certificate_and_key_file_with_secure_cookies(sim: Simulator, tmp_path: Path,
                                                                 daemons: list[Daemon]) -> None:
    import http.client
    import ssl

    cert, key = self_signed(tmp_path)
    client = ssl.create_default_context(cafile=str(cert))
    web = start(tmp_path, sim.url, daemons, tls=client,
                daemon_keys=f'tls_cert_file = "{cert.name}"\ntls_key_file = "{key.name}"\n')
    assert web.get("/healthz", token=None).status == 200
    assert web.get("/api/v1/deployments", token=OPERATOR).json()[0]["name"] == "prod"
    assert web.get("/api/v1/deployments", token=None).status == 401
    signin = web.signin(OPERATOR)
    assert signin.status == 303 and "secure" in signin.headers["set-cookie"].lower()
    # Plain HTTP on the TLS port gets no answer; a client that does not trust the certificate
    # gets no connection.
    plain = http.client.HTTPConnection("127.0.0.1", web.port, timeout=5)
    try:
        plain.request("GET", "/api/v1/deployments", headers={"Authorization": f"Bearer {OPERATOR}"})
        assert plain.getresponse().status == 400
    except (http.client.HTTPException, OSError):
        pass
    finally:
        plain.close()
    untrusted = http.client.HTTPSConnection("127.0.0.1", web.port, timeout=5,
                                            context=ssl.create_default_context())
    with pytest.raises(ssl.SSLError):
        untrusted.request("GET", "/healthz")
    untrusted.close()
    # The image's HEALTHCHECK probes the TLS daemon over https.
    check = _healthcheck()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("BACKUP_AGENT_CONFIG", str(tmp_path / "agent.toml"))
        env.setenv("BACKUP_AGENT_DAEMON_LISTEN", f"127.0.0.1:{web.port}")
        assert check.check().startswith(f"healthy: https://127.0.0.1:{web.port}/healthz answered 200")
    assert web.daemon.stop() == 0
    assert "listening on https://127.0.0.1:" in web.daemon.stderr()
    assert_no_leak(web.daemon.stderr())


def test_a_bug_answers_500_as_json_and_logs_one_line_without_its_message(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from backup_agent import config as config_mod
    from backup_agent.web.app import create_app
    from backup_agent.web.server import WebServer
    from backup_agent.web.state import WebState
    from tests.jobs.conftest import write_config
    from tests.web.apikit import Web

    def broken() -> tuple[bool, dict[str, object]]:
        raise RuntimeError("PIN 4711 and the passphrase hunter2")

    cfg = config_mod.load(write_config(tmp_path, "http://127.0.0.1:9"))
    state = WebState(get_config=lambda: cfg, env=lambda: None, alerts=list,  # type: ignore[arg-type,return-value]
                     trigger=lambda *a: "", health=broken, ready=broken, metrics=lambda: b"")
    server = WebServer(create_app(state), "127.0.0.1", 0)
    server.start()
    try:
        web = Web(None, port=int(server.address.rsplit(":", 1)[1]))  # type: ignore[arg-type]
        for _ in range(50):
            try:
                answer = web.get("/healthz", token=None)
                break
            except OSError:
                time.sleep(0.05)
        assert answer.status == 500 and answer.json() == {"error": "internal error"}
    finally:
        server.stop()
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged == ["GET /healthz: internal error: RuntimeError"], logged
    assert "4711" not in caplog.text and "hunter2" not in caplog.text and "Traceback" not in caplog.text


def test_the_web_package_never_imports_the_cli() -> None:
    from tests.test_layering import offences

    assert offences("backup_agent.web", ("backup_agent.cli",)) == []


def test_the_command_line_and_the_daemon_module_pay_for_no_web_framework() -> None:
    import subprocess
    import sys

    code = ("import sys; from backup_agent.cli.main import build_parser; build_parser(); "
            "import backup_agent.daemon.scheduler, backup_agent.config; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'fastapi', 'starlette', 'uvicorn', 'jinja2', 'pydantic', 'multipart'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", "FastAPI is imported only when the daemon starts"
