"""Client secrets: generated at random, shown once, stored only as a scrypt hash.

scrypt (``hashlib.scrypt``, in the standard library) is a memory-hard KDF, so a leaked
``authz.clients`` table does not let secrets be brute-forced cheaply, and it needs no new
dependency (argon2 would need ``argon2-cffi``). Parameters: n=2**14, r=8, p=1 (16 MiB,
~50 ms here) — token requests are rare (one per token lifetime per client). The hash is
CPU-bound: callers in a coroutine run it in an executor.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = ["hash_secret", "new_secret", "verify_secret"]

_N, _R, _P = 2**14, 8, 1


def new_secret() -> str:
    """256 random bits, URL-safe; never starting with ``-``, which command lines read as
    an option (``--client-secret -x…`` failed in argparse; one secret in 64 did)."""
    while (secret := secrets.token_urlsafe(32)).startswith("-"):
        pass
    return secret


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(secret.encode(), salt=_unb64(salt), n=int(n), r=int(r),
                               p=int(p), dklen=32)
    return hmac.compare_digest(candidate, _unb64(digest))
