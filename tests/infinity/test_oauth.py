"""OAuth2 client credentials against a real token endpoint that verifies the ES256 assertion."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from backup_agent.config import Deployment, Secret
from backup_agent.errors import AuthError, SecretError
from backup_agent.infinity import InfinityClient
from tests.infinity.peers import Handler, LocalServer

CLIENT_ID = "backup-agent-client"


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class TokenNode:
    """A Management Node stand-in: /oauth/token/ checks the JWT; the API checks the bearer."""

    def __init__(self, public_key: ec.EllipticCurvePublicKey, expires_in: int = 3600) -> None:
        self.public_key = public_key
        self.expires_in = expires_in
        self.lock = threading.Lock()
        self.issued: list[str] = []
        self.valid: set[str] = set()
        self.claims: list[dict[str, Any]] = []
        self.refuse_tokens = False
        self.reject_bearers = False
        self.url = ""

    def __call__(self, h: Handler) -> tuple[int, dict[str, str], bytes]:
        if h.path == "/oauth/token/":
            return self.token(h)
        auth = h.headers.get("Authorization", "")
        if self.reject_bearers or not auth.startswith("Bearer ") or auth[7:] not in self.valid:
            return 401, {}, b'{"error": "invalid token"}'
        meta = {"limit": 20, "offset": 0, "total_count": 1, "next": None}
        return 200, {}, json.dumps({"meta": meta, "objects": [{"name": "a", "resource_uri": "/a/"}]}).encode()

    def token(self, h: Handler) -> tuple[int, dict[str, str], bytes]:
        form = {k: v[0] for k, v in parse_qs(h.body().decode()).items()}
        if self.refuse_tokens or form.get("grant_type") != "client_credentials" or \
                form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return 400, {}, b'{"error": "invalid_client"}'
        try:
            assert jwt.get_unverified_header(form["client_assertion"])["alg"] == "ES256"
            claims = jwt.decode(form["client_assertion"], self.public_key, algorithms=["ES256"],
                                audience=self.url + "/oauth/token/", issuer=CLIENT_ID,
                                options={"require": ["iss", "sub", "aud", "iat", "exp", "jti"]})
        except (jwt.PyJWTError, AssertionError):
            return 401, {}, b'{"error": "invalid_client"}'
        if claims["sub"] != CLIENT_ID:
            return 401, {}, b'{"error": "invalid_client"}'
        with self.lock:
            self.claims.append(claims)
            tok = f"tok-{len(self.issued) + 1}-secretvalue"
            self.issued.append(tok)
            self.valid.add(tok)
        body = {"access_token": tok, "expires_in": self.expires_in, "token_type": "Bearer"}
        return 200, {}, json.dumps(body).encode()


@pytest.fixture
def key_file(tmp_path: Path) -> tuple[Path, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "client.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path, key


def _client(url: str, key_path: Path, clock: FakeClock, sleeps: Any) -> InfinityClient:
    dep = Deployment(name="prod", url=url, client_id=CLIENT_ID, retries=1,
                     private_key=Secret("deployments.prod.private_key", file=str(key_path)))
    return InfinityClient(dep, sleep=sleeps, clock=clock)


def test_token_is_fetched_once_and_reused(key_file: Any, sleeps: Any) -> None:
    node = TokenNode(key_file[1].public_key())
    with LocalServer(node) as srv:
        node.url = srv.url
        with _client(srv.url, key_file[0], FakeClock(), sleeps) as client:
            for _ in range(3):
                assert client.alarms()[0]["name"] == "a"
    assert len(node.issued) == 1
    claims = node.claims[0]
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["exp"] > claims["iat"] and claims["jti"]


def test_token_is_refreshed_before_it_expires(key_file: Any, sleeps: Any) -> None:
    node = TokenNode(key_file[1].public_key(), expires_in=600)
    clock = FakeClock()
    with LocalServer(node) as srv:
        node.url = srv.url
        with _client(srv.url, key_file[0], clock, sleeps) as client:
            client.alarms()
            clock.t += 500  # inside the token's life
            client.alarms()
            assert len(node.issued) == 1
            clock.t += 50  # within a minute of expiry: refreshed early
            client.alarms()
    assert len(node.issued) == 2
    assert node.claims[0]["jti"] != node.claims[1]["jti"]


def test_revoked_token_is_refreshed_once_on_401(key_file: Any, sleeps: Any) -> None:
    node = TokenNode(key_file[1].public_key())
    with LocalServer(node) as srv:
        node.url = srv.url
        with _client(srv.url, key_file[0], FakeClock(), sleeps) as client:
            client.alarms()
            node.valid.clear()  # revoked on the node
            assert client.alarms()[0]["name"] == "a"
            assert len(node.issued) == 2
            # A node that refuses every token: one refresh, then a clear AuthError.
            node.reject_bearers = True
            with pytest.raises(AuthError, match="check client_id and private_key_file"):
                client.alarms()
    assert len(node.issued) == 3


def test_token_endpoint_refusing_is_an_auth_error(key_file: Any, sleeps: Any) -> None:
    node = TokenNode(key_file[1].public_key())
    node.refuse_tokens = True
    with LocalServer(node) as srv:
        node.url = srv.url
        with _client(srv.url, key_file[0], FakeClock(), sleeps) as client, \
                pytest.raises(AuthError) as err:
            client.alarms()
    assert "OAuth2 client credentials (HTTP 400)" in str(err.value)


def test_wrong_key_is_refused_by_the_node(key_file: Any, sleeps: Any) -> None:
    node = TokenNode(ec.generate_private_key(ec.SECP256R1()).public_key())  # not our key
    with LocalServer(node) as srv:
        node.url = srv.url
        with _client(srv.url, key_file[0], FakeClock(), sleeps) as client, \
                pytest.raises(AuthError, match="HTTP 401"):
            client.alarms()
    assert node.issued == []


def test_unreadable_private_key_is_a_secret_error(tmp_path: Path, sleeps: Any) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    node = TokenNode(ec.generate_private_key(ec.SECP256R1()).public_key())
    with LocalServer(node) as srv:
        node.url = srv.url
        with _client(srv.url, bad, FakeClock(), sleeps) as client, pytest.raises(SecretError) as err:
            client.alarms()
    assert "deployments.prod.private_key" in str(err.value) and "not a key" not in str(err.value)
