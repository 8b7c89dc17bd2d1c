"""Saved state of an adapter between runs, and its quarantine, in local files.

One JSON file per adapter (``<dir>/<adapter id>.state.json``) holds the cursor; the
quarantined rows are kept next to it (``<adapter id>.quarantine.jsonl``), one JSON object
per line with source, row number, raw content and reason. Writes go to a temporary file
renamed over the old one, so a crash never leaves half a state. The state is saved only
after the hub acknowledged the batch it covers: a run interrupted before that resumes
from the previous state and re-sends, and deterministic ids make re-sending harmless.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from adapters.sdk.records import Quarantine

__all__ = ["State", "StateStore"]


@dataclass
class State:
    #: latest observation time (ISO 8601) the hub acknowledged; None before the first run
    cursor: str | None = None
    #: sha256 of the source the position refers to
    source_digest: str | None = None
    #: last row of that source acknowledged: rows up to it are not sent again
    position: int = 0
    runs: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> State:
        known = {k: data[k] for k in ("cursor", "source_digest", "position", "runs", "extra")
                 if k in data}
        return cls(**known)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class StateStore:
    """State and quarantine files of adapters under one directory."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def state_path(self, adapter_id: str) -> Path:
        return self.directory / f"{adapter_id}.state.json"

    def quarantine_path(self, adapter_id: str) -> Path:
        return self.directory / f"{adapter_id}.quarantine.jsonl"

    def load(self, adapter_id: str) -> State:
        path = self.state_path(adapter_id)
        if not path.exists():
            return State()
        return State.from_json(json.loads(path.read_text(encoding="utf-8")))

    def save(self, adapter_id: str, state: State) -> None:
        _atomic_write(self.state_path(adapter_id),
                      json.dumps(state.to_json(), ensure_ascii=False, indent=1))

    def quarantined(self, adapter_id: str) -> list[dict[str, Any]]:
        path = self.quarantine_path(adapter_id)
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]

    def quarantine_keys(self, adapter_id: str) -> set[tuple[str, int]]:
        """(source, row) of every row quarantined and not written since."""
        return {(q["source"], q["row"]) for q in self.quarantined(adapter_id)}

    def add_quarantine(self, adapter_id: str, rows: list[Quarantine]) -> None:
        """Append, keyed by (source, row): a re-run replaces a row's entry, never doubles it."""
        self.update_quarantine(adapter_id, rows, ())

    def update_quarantine(self, adapter_id: str, rows: list[Quarantine],
                          resolved: Iterable[tuple[str, int]]) -> None:
        """Add ``rows`` (keyed by source and row, replacing an earlier entry) and remove the
        entries of ``resolved`` rows, which a later run wrote: the file lists what is still
        missing from the hub, not everything that ever went wrong."""
        resolved = set(resolved)
        if not rows and not resolved:
            return
        by_key = {(q["source"], q["row"]): q for q in self.quarantined(adapter_id)}
        for key in resolved:
            by_key.pop(key, None)
        for q in rows:
            by_key[(q.source, q.row)] = q.to_json()
        _atomic_write(self.quarantine_path(adapter_id), "".join(
            json.dumps(q, ensure_ascii=False) + "\n" for q in by_key.values()))
