"""Secrets in an adapter registration's ``config`` are write-only.

A key is secret when its name contains ``password``, ``passwd``, ``secret``, ``token``,
``apikey``/``api_key``/``api-key``, ``credential``, ``authorization`` or
``private_key`` (any case), at any depth of the config, in objects inside lists too. Its
value is stored as given and never rendered: every answer shows ``"***"`` instead. A
``PUT`` that sends ``"***"`` back for a secret key keeps the stored value, so an owner
can read a registration, change its schedule and put it back without re-entering its
credentials. Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["REDACTED", "is_secret_key", "keep_secrets", "redact_secrets"]

REDACTED = "***"
_SECRET = re.compile(
    r"passw(?:or)?d|secret|token|api[-_]?key|credential|authori[sz]ation|private[-_]?key",
    re.IGNORECASE)


def is_secret_key(key: str) -> bool:
    return _SECRET.search(key) is not None


def redact_secrets(value: Any) -> Any:
    """A copy of ``value`` with every secret key's value replaced by ``"***"``."""
    if isinstance(value, dict):
        return {k: REDACTED if is_secret_key(str(k)) else redact_secrets(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact_secrets(v) for v in value]
    return value


def keep_secrets(new: Any, old: Any) -> Any:
    """``new`` where a secret key whose value is ``"***"`` takes the value stored in
    ``old`` at the same place (dropped when ``old`` has none: ``"***"`` is never stored)."""
    if isinstance(new, dict):
        before = old if isinstance(old, dict) else {}
        out: dict[str, Any] = {}
        for k, v in new.items():
            if is_secret_key(str(k)) and v == REDACTED:
                if k in before:
                    out[k] = before[k]
                continue
            out[k] = keep_secrets(v, before.get(k))
        return out
    if isinstance(new, list):
        prior = old if isinstance(old, list) else []
        return [keep_secrets(v, prior[i] if i < len(prior) else None)
                for i, v in enumerate(new)]
    return new
