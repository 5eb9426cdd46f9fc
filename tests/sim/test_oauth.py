"""OAuth2 client credentials with an ES256 JWT assertion, then bearer tokens on the API."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from backup_agent.sim import SimOptions, Simulator
from tests.sim.conftest import CONF

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(key: ec.EllipticCurvePrivateKey, claims: dict, alg: str = "ES256") -> str:
    head = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    r, s = decode_dss_signature(key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256())))
    return f"{head}.{body}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


@pytest.fixture
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def osim(key: ec.EllipticCurvePrivateKey) -> Iterator[Simulator]:
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    s = Simulator(SimOptions(rooms=5, oauth_clients={"agent": pem}, basic_auth_disabled=True)).start()
    yield s
    s.stop()


def _claims(sim: Simulator, **over: object) -> dict:
    now = int(time.time())
    return {"iss": "agent", "sub": "agent", "aud": f"{sim.url}/oauth/token/", "iat": now,
            "exp": now + 300, "jti": str(uuid.uuid4()), **over}


def _token(sim: Simulator, assertion: str, **form: str) -> requests.Response:
    data = {"grant_type": "client_credentials", "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion, **form}
    return requests.post(f"{sim.url}/oauth/token/", data=data, timeout=10)


def test_token_opens_the_api_and_basic_auth_is_disabled(osim: Simulator, key) -> None:
    answer = _token(osim, _jwt(key, _claims(osim)))
    assert answer.status_code == 200, answer.text
    token = answer.json()
    assert token["token_type"] == "Bearer" and token["expires_in"] == 3600
    ok = requests.get(osim.url + CONF + "conference/", timeout=10,
                      headers={"Authorization": f"Bearer {token['access_token']}"})
    assert ok.status_code == 200 and ok.json()["meta"]["total_count"] == 5
    assert requests.get(osim.url + CONF + "conference/", auth=("admin", "sim-admin"), timeout=10).status_code == 401
    bad = requests.get(osim.url + CONF + "conference/", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert bad.status_code == 401


@pytest.mark.parametrize("change, error, status", [
    ({"aud": "https://elsewhere/oauth/token/"}, "invalid_grant", 400),
    ({"exp": 1}, "invalid_grant", 400),
    ({"iss": "stranger", "sub": "stranger"}, "invalid_client", 401),
    ({"sub": "someone-else"}, "invalid_client", 401),
    ({"jti": ""}, "invalid_grant", 400),
])
def test_bad_assertions(osim: Simulator, key, change: dict, error: str, status: int) -> None:
    answer = _token(osim, _jwt(key, _claims(osim, **change)))
    assert answer.status_code == status and answer.json()["error"] == error


def test_wrong_key_wrong_grant_replay_and_garbage(osim: Simulator, key) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    assert _token(osim, _jwt(other, _claims(osim))).json()["error"] == "invalid_client"
    assert _token(osim, _jwt(key, _claims(osim)), grant_type="password").json()["error"] == "unsupported_grant_type"
    assert _token(osim, "not.a-jwt").status_code == 400
    assert _token(osim, _jwt(key, _claims(osim), alg="HS256")).status_code == 401
    claims = _claims(osim)
    assert _token(osim, _jwt(key, claims)).status_code == 200
    assert _token(osim, _jwt(key, claims)).json()["error"] == "invalid_grant"  # jti replay


def test_clients_registered_through_the_control_api(key) -> None:
    sim = Simulator(SimOptions(rooms=2)).start()
    try:
        pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        added = requests.post(sim.url + "/_sim/oauth/clients", auth=("admin", "sim-admin"),
                              json={"client_id": "agent", "public_key": pem}, timeout=10)
        assert added.status_code == 201
        assert _token(sim, _jwt(key, _claims(sim))).status_code == 200
        rsa_like = requests.post(sim.url + "/_sim/oauth/clients", auth=("admin", "sim-admin"),
                                 json={"client_id": "x", "public_key": "garbage"}, timeout=10)
        assert rsa_like.status_code == 400
    finally:
        sim.stop()
