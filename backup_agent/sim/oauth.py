"""OAuth2 client credentials with a signed JWT assertion, as the Management Node offers it.

``POST /oauth/token/`` (form): ``grant_type=client_credentials``,
``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer``,
``client_assertion=<JWT, ES256, iss = sub = client_id, aud = the token URL, iat, exp, jti>``.
Answers ``{"access_token", "expires_in", "token_type": "Bearer"}``; the token then opens the
API as ``Authorization: Bearer <token>``. Errors follow RFC 6749 (``invalid_client`` 401,
``invalid_grant``/``invalid_request``/``unsupported_grant_type`` 400).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class OAuthError(Exception):
    """A refused token request: ``code`` is the RFC 6749 error, ``status`` the HTTP answer."""

    def __init__(self, code: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.code = code
        self.status = status


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class OAuthServer:
    """Registered clients (public keys), issued tokens and seen assertion ids."""

    def __init__(self, now: Callable[[], datetime], token_seconds: int = 3600) -> None:
        self.now = now
        self.token_seconds = token_seconds
        self._lock = threading.Lock()
        self._clients: dict[str, ec.EllipticCurvePublicKey] = {}
        self._tokens: dict[str, tuple[str, float]] = {}
        self._seen_jti: set[str] = set()

    def add_client(self, client_id: str, public_key_pem: str | bytes) -> None:
        """Register an API client by its EC P-256 public key (PEM)."""
        pem = public_key_pem.encode() if isinstance(public_key_pem, str) else public_key_pem
        key = serialization.load_pem_public_key(pem)
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
            raise ValueError("an OAuth2 client key must be an EC P-256 public key (ES256)")
        with self._lock:
            self._clients[client_id] = key

    def token(self, form: dict[str, str], token_url: str) -> dict[str, Any]:
        """Check a client-credentials request and issue a bearer token."""
        if form.get("grant_type") != "client_credentials":
            raise OAuthError("unsupported_grant_type", "grant_type must be client_credentials")
        if form.get("client_assertion_type") != JWT_BEARER or not form.get("client_assertion"):
            raise OAuthError("invalid_request", "a jwt-bearer client_assertion is required")
        claims = self._verify(form["client_assertion"], token_url)
        access = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[access] = (claims["iss"], self.now().timestamp() + self.token_seconds)
        return {"access_token": access, "expires_in": self.token_seconds, "token_type": "Bearer"}

    def _verify(self, assertion: str, token_url: str) -> dict[str, Any]:
        try:
            head_b64, body_b64, sig_b64 = assertion.split(".")
            header = json.loads(_b64(head_b64))
            claims = json.loads(_b64(body_b64))
            signature = _b64(sig_b64)
        except (ValueError, TypeError) as exc:
            raise OAuthError("invalid_request", "client_assertion is not a JWT") from exc
        if not isinstance(header, dict) or header.get("alg") != "ES256":
            raise OAuthError("invalid_client", "client_assertion must be signed with ES256", 401)
        if not isinstance(claims, dict):
            raise OAuthError("invalid_request", "client_assertion claims are not an object")
        client = str(claims.get("iss", ""))
        with self._lock:
            key = self._clients.get(client)
        if key is None or claims.get("sub") != client:
            raise OAuthError("invalid_client", "unknown client (iss and sub must be the client id)", 401)
        if len(signature) != 64:
            raise OAuthError("invalid_client", "bad ES256 signature", 401)
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        der = encode_dss_signature(r, s)
        try:
            key.verify(der, f"{head_b64}.{body_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature as exc:
            raise OAuthError("invalid_client", "the client_assertion signature does not verify", 401) from exc
        self._check_claims(claims, token_url)
        return claims

    def _check_claims(self, claims: dict[str, Any], token_url: str) -> None:
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if not any(str(a).rstrip("/") == token_url.rstrip("/") for a in audiences):
            raise OAuthError("invalid_grant", f"aud must be the token URL {token_url}")
        now = self.now().timestamp()
        try:
            exp, iat = float(claims["exp"]), float(claims["iat"])
        except (KeyError, TypeError, ValueError) as exc:
            raise OAuthError("invalid_grant", "exp and iat are required numbers") from exc
        if exp <= now:
            raise OAuthError("invalid_grant", "the client_assertion has expired")
        if iat > now + 60:
            raise OAuthError("invalid_grant", "the client_assertion is issued in the future")
        jti = claims.get("jti")
        if not jti:
            raise OAuthError("invalid_grant", "jti is required")
        with self._lock:
            if jti in self._seen_jti:
                raise OAuthError("invalid_grant", "this client_assertion (jti) was already used")
            self._seen_jti.add(str(jti))

    def check_bearer(self, token: str) -> bool:
        """Whether ``token`` was issued here and has not expired."""
        with self._lock:
            entry = self._tokens.get(token)
        return entry is not None and entry[1] > self.now().timestamp()
