"""OAuth2 client credentials for the Management Node: the ES256 JWT assertion and the token cache.

The Management Node's token endpoint is ``<url>/oauth/token/``; the client proves who it is
with a JWT signed by its private key (``iss`` = ``sub`` = client_id, ``aud`` = the token URL).
The answer's ``access_token`` is cached until shortly before ``expires_in`` runs out.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from backup_agent.errors import SecretError

if TYPE_CHECKING:  # imported where a key is read: 30 ms of every start for a node with a password
    from cryptography.hazmat.primitives.asymmetric import ec

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 300  # seconds; the assertion is used at once, keep it short-lived
EARLY_REFRESH = 60.0  # refresh this long before the token runs out (clock skew, slow requests)


def load_private_key(pem: str, label: str) -> ec.EllipticCurvePrivateKey:
    """Parse an EC private key (PEM); errors name ``label`` and never show the key."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem.encode("utf-8") + b"\n", password=None)
    except (ValueError, TypeError):
        raise SecretError(f"{label}: not a readable unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SecretError(f"{label}: must be an EC (P-256) private key for ES256")
    return key


def make_assertion(client_id: str, key: ec.EllipticCurvePrivateKey, token_url: str,
                   now: float, jti: str | None = None) -> str:
    """The signed ES256 client assertion for one token request made at ``now`` (epoch seconds)."""
    import jwt

    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "iat": int(now),
        "exp": int(now) + ASSERTION_LIFETIME,
        "jti": jti or uuid.uuid4().hex,
    }
    return jwt.encode(claims, key, algorithm="ES256")


def token_form(client_id: str, key: ec.EllipticCurvePrivateKey, token_url: str,
               now: float) -> dict[str, str]:
    """The form body POSTed to the token endpoint."""
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": make_assertion(client_id, key, token_url, now),
    }


@dataclass
class _Token:
    value: str
    expires_at: float  # on the monotonic clock


class TokenCache:
    """One bearer token shared by every thread; ``fetch`` is called only when it is missing or old.

    ``fetch`` returns the decoded token answer (``access_token``, ``expires_in``); ``clock`` is
    monotonic seconds. Concurrent callers wait for one fetch instead of each making their own.
    """

    def __init__(self, fetch: Callable[[], dict[str, Any]], clock: Callable[[], float]) -> None:
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._token: _Token | None = None

    def get(self) -> str:
        """A token valid for at least EARLY_REFRESH more seconds (fetching one if needed)."""
        with self._lock:
            now = self._clock()
            if self._token is None or now >= self._token.expires_at:
                answer = self._fetch()
                lifetime = float(answer.get("expires_in") or 3600)
                margin = min(EARLY_REFRESH, lifetime / 2)
                self._token = _Token(str(answer["access_token"]), now + lifetime - margin)
            return self._token.value

    def invalidate(self, value: str) -> None:
        """Forget ``value`` (a 401 answered it), unless another thread already replaced it."""
        with self._lock:
            if self._token is not None and self._token.value == value:
                self._token = None

    def known(self) -> list[str]:
        """The current token, if any (so it can be scrubbed from messages)."""
        return [self._token.value] if self._token else []
