"""Duplicate rows: the same key twice in one source.

An exact repeat (same key, same content) is a documented skip. The same key with other
content is a conflict no adapter can resolve by itself, so the later row is quarantined
and the first one kept.
"""

from __future__ import annotations

from adapters.sdk.records import Emit, Outcome, Quarantine, Skip

__all__ = ["Dedup"]


class Dedup:
    def __init__(self) -> None:
        self._seen: dict[str, tuple[int, str]] = {}

    def check(self, emit: Emit, raw: str, content: object | None = None) -> Outcome:
        """``emit`` itself, or the Skip/Quarantine its duplication calls for."""
        key = emit.entities[0]["id"]  # the row's own entity; later ones are shared extras
        fingerprint = repr(content) if content is not None else raw
        prev = self._seen.get(key)
        if prev is None:
            self._seen[key] = (emit.row, fingerprint)
            return emit
        if prev[1] == fingerprint:
            return Skip(emit.source, emit.row, "duplicate row", {"first": prev[0]})
        return Quarantine(emit.source, emit.row, raw,
                          f"conflicting duplicate: same key as row {prev[0]}, other values")
