"""The adapter contract: ``check``, ``describe`` and ``read(state)``.

After Airbyte's ``check / discover / read`` and Singer's state bookmarks. A subclass
gives a :class:`Manifest` and a pure ``rows(text)`` generator from decoded source text to
one outcome per row; this base class reads the bytes, decodes them in the manifest's
encoding, and applies the saved state (rows already acknowledged, the cursor and its
look-back window) so every adapter is incremental the same way.
"""

from __future__ import annotations

import hashlib
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from adapters.sdk.manifest import Manifest
from adapters.sdk.records import Emit, Outcome, Quarantine, Skip
from adapters.sdk.state import State
from adapters.sdk.text import DecodeError, decode

__all__ = ["Adapter", "CheckResult", "SourceError", "read_source"]


class SourceError(Exception):
    """The source as a whole cannot be read: wrong encoding, truncated, not this layout."""


@dataclass
class CheckResult:
    ok: bool
    messages: list[str] = field(default_factory=list)


def read_source(source: str | Path) -> bytes:
    """Bytes of a local file or an http(s) URL."""
    s = str(source)
    if s.startswith(("http://", "https://")):
        with urllib.request.urlopen(s, timeout=30) as resp:
            data: bytes = resp.read()
            return data
    return Path(s).read_bytes()


class Adapter(ABC):
    """Base of every adapter, built-in, third-party or declarative."""

    manifest: ClassVar[Manifest]
    #: attributes produced per contract type, for ``describe``
    produces: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    #: the fixture the conformance suite and ``renkei adapters run`` default to
    default_source: ClassVar[Path | None] = None
    #: what ``rows`` numbers: ``"line"``, the 1-based text line of the source the row ends
    #: on (the progress bar then tells bytes of the source, sdk/progress.py), or
    #: ``"record"`` (a JSON record, a month of a table: the bar tells rows only)
    row_unit: ClassVar[str] = "record"

    def __init__(self, source: str | Path | None = None, *, data: bytes | None = None,
                 options: Mapping[str, Any] | None = None) -> None:
        src = source if source is not None else self.default_source
        if src is None and data is None:
            raise SourceError(f"{self.manifest.id}: no source given")
        self.source = str(src) if src is not None else "<bytes>"
        self._data = data
        self.options: dict[str, Any] = dict(options or {})

    # -- source ---------------------------------------------------------------------
    def source_bytes(self) -> bytes:
        if self._data is None:
            try:
                self._data = read_source(self.source)
            except OSError as exc:
                raise SourceError(f"cannot read {self.source}: {exc}") from exc
        return self._data

    def digest(self) -> str:
        return hashlib.sha256(self.source_bytes()).hexdigest()

    def text(self) -> str:
        try:
            text, _ = decode(self.source_bytes(), self.manifest.encoding)
        except DecodeError as exc:
            raise SourceError(f"{self.source}: {exc}") from exc
        return text

    # -- the three operations ---------------------------------------------------------
    def check(self) -> CheckResult:
        """Can the source be read, decoded and recognised? Reads no further than needed."""
        try:
            text = self.text()
            problems = self.check_text(text) or self._check_rows(text)
        except SourceError as exc:
            return CheckResult(False, [str(exc)])
        return CheckResult(not problems, problems or ["ok"])

    def _check_rows(self, text: str, sample: int = 200) -> list[str]:
        """A source whose first ``sample`` mapped rows are all quarantined is not one this
        adapter reads (a layout or an option is wrong): fail rather than say ``ok`` and
        let a run quarantine every row."""
        seen: list[Quarantine] = []
        for out in self.rows(text):
            if isinstance(out, Emit):
                return []
            if isinstance(out, Quarantine):
                seen.append(out)
                if len(seen) >= sample:
                    break
        if len(seen) < 2:
            return []
        return [f"every row read would be quarantined ({len(seen)} of the first rows); "
                f"first reason: {seen[0].reason}"]

    def describe(self) -> dict[str, Any]:
        return {"manifest": self.manifest.to_json(),
                "produces": {t: list(a) for t, a in self.produces.items()}}

    def read(self, state: State | None = None) -> Iterator[Outcome]:
        """Outcomes, one per source row, after the saved state is applied."""
        state = state or State()
        digest = self.digest()
        same_source = state.source_digest == digest
        floor = _cursor_floor(state, self.manifest)
        for out in self.rows(self.text()):
            if same_source and out.row <= state.position:
                yield Skip(out.source, out.row, "already acknowledged in an earlier run")
            elif (isinstance(out, Emit) and floor is not None and out.cursor is not None
                  and datetime.fromisoformat(out.cursor) < floor):
                yield Skip(out.source, out.row, "older than the saved cursor minus look-back")
            else:
                yield out

    # -- what subclasses write -------------------------------------------------------------
    def check_text(self, text: str) -> list[str]:
        """Problems with the decoded source (empty = fine). Default: ``rows`` must start."""
        try:
            for _ in self.rows(text):
                break
        except SourceError as exc:
            return [str(exc)]
        return []

    @abstractmethod
    def rows(self, text: str) -> Iterator[Outcome]:
        """One outcome per source row, in source order, row numbers increasing."""


def _cursor_floor(state: State, manifest: Manifest) -> datetime | None:
    if state.cursor is None:
        return None
    return datetime.fromisoformat(state.cursor) - manifest.lookback_window()
