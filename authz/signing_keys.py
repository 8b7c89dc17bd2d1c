"""Token signing keys: ES256 (P-256) key pairs kept in PostgreSQL, rotated without downtime.

Rotation adds a new key, which signs from then on, and retires the old one, which keeps
verifying until ``verify_until`` = retirement + the longest token lifetime: no token ever
outlives the key that can verify it. ES256 rather than RS256: shorter tokens, cheap to
generate at start-up, and no RSA-vs-HMAC confusion is possible because verification only
ever accepts ``ES256`` with an EC key of this set.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from joserfc.jwk import ECKey, KeySet

__all__ = ["ALG", "SigningKey", "generate_key", "public_jwks", "signing_key", "verification_set"]

ALG = "ES256"


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private_jwk: dict[str, Any]
    public_jwk: dict[str, Any]
    created_at: datetime
    retired_at: datetime | None = None
    verify_until: datetime | None = None

    def verifies_at(self, now: datetime) -> bool:
        return self.verify_until is None or now < self.verify_until


def generate_key() -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A new key pair as (kid, private JWK, public JWK)."""
    kid = secrets.token_urlsafe(12)
    key = ECKey.generate_key("P-256", parameters={"kid": kid, "alg": ALG, "use": "sig"})
    return kid, dict(key.as_dict(private=True)), dict(key.as_dict(private=False))


def signing_key(keys: list[SigningKey]) -> SigningKey | None:
    """The newest key not retired: the one that signs."""
    active = [k for k in keys if k.retired_at is None]
    return max(active, key=lambda k: k.created_at) if active else None


def public_jwks(keys: list[SigningKey], now: datetime) -> dict[str, Any]:
    """The JWKS document: every key that may still verify a live token."""
    return {"keys": [k.public_jwk for k in keys if k.verifies_at(now)]}


def verification_set(keys: list[SigningKey], now: datetime) -> KeySet:
    return KeySet.import_key_set(public_jwks(keys, now))  # type: ignore[arg-type]
