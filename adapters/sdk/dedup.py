"""Duplicate rows: the same key twice in one source.

An exact repeat (same key, same content) is a documented skip. The same key with other
content is a conflict no adapter can resolve by itself, so the later row is quarantined
and the first one kept.
"""

from __future__ import annotations

import orjson

from adapters.sdk.records import Emit, Outcome, Quarantine, Skip

__all__ = ["Dedup"]


class Dedup:
    def __init__(self) -> None:
        self._seen: dict[str, tuple[int, str | bytes]] = {}

    def check(self, emit: Emit, raw: str, content: object | None = None) -> Outcome:
        """``emit`` itself, or the Skip/Quarantine its duplication calls for."""
        key = emit.entities[0]["id"]  # the row's own entity; later ones are shared extras
        fingerprint = _fingerprint(content) if content is not None else raw
        prev = self._seen.get(key)
        if prev is None:
            self._seen[key] = (emit.row, fingerprint)
            return emit
        if prev[1] == fingerprint:
            return Skip(emit.source, emit.row, "duplicate row", {"first": prev[0]})
        return Quarantine(emit.source, emit.row, raw,
                          f"conflicting duplicate: same key as row {prev[0]}, other values")


def _fingerprint(content: object) -> str | bytes:
    """Equal for equal content: its JSON (several times cheaper than ``repr`` for the
    entity dicts and cell lists adapters pass), or ``repr`` for what JSON cannot hold."""
    try:
        return orjson.dumps(content)
    except TypeError:
        return repr(content)
