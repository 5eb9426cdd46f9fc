"""TLS and a minimal Entra ID (login.microsoftonline.com) token endpoint for the ARM emulator.

With these, the provider's production path is exercised: ARM over https (no ``allow_http``)
trusting a private CA through the ``ca_bundle`` setting, and a service principal
(``ClientSecretCredential`` through MSAL) getting its token by the client-credentials grant.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

TENANT = "00000000-0000-0000-0000-0000000000e1"
CLIENT_ID = "00000000-0000-0000-0000-0000000000c1"
CLIENT_SECRET = "emulator-client-secret"  # a test peer's fixed service principal secret

_DISCOVERY = re.compile(r"^/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration$")
_TOKEN = re.compile(r"^/(?P<tenant>[^/]+)/oauth2/v2\.0/token$")


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (also its own CA): (cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "arm-emulator.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "arm-cert.pem", directory / "arm-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def identity_answer(method: str, path: str, raw: bytes, base: str, token: str) -> tuple[int, Any] | None:
    """Answer an Entra ID request (discovery or token), or None when ``path`` is not one."""
    m = _DISCOVERY.match(path)
    if m and method == "GET":
        tenant = m["tenant"]
        return 200, {
            "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
            "issuer": f"{base}/{tenant}/v2.0",
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
            "response_types_supported": ["code", "token"],
        }
    m = _TOKEN.match(path)
    if m and method == "POST":
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type", "error_description": "AADSTS70003"}
        if m["tenant"] != TENANT:
            return 400, {"error": "invalid_request", "error_description": "AADSTS90002: Tenant not found.",
                         "error_codes": [90002]}
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return 401, {"error": "invalid_client",
                         "error_description": "AADSTS7000215: Invalid client secret provided.",
                         "error_codes": [7000215]}
        return 200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}
    return None
