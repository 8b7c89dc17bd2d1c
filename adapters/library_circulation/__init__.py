"""Monthly library circulation statistics (wide 和暦 layout) → LibraryCirculation."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from adapters.library_circulation.mapping import (
    METRICS,
    MONTHS,
    UNMAPPED,
    branch,
    month_entity,
)
from adapters.sdk import Adapter, Emit, Manifest, Outcome, Quarantine, Skip, SourceError
from adapters.sdk.dates import parse_year_sequence
from adapters.sdk.text import nfkc

__all__ = ["LibraryCirculationAdapter"]

_HERE = Path(__file__).resolve().parent
_FIXTURES = _HERE.parent.parent / "tests" / "adapters" / "fixtures" / "library"
_HEADER = ["年度", "区分", *(f"{m}月" for m in MONTHS), "計"]


class LibraryCirculationAdapter(Adapter):
    manifest = Manifest.from_file(_HERE / "manifest.toml")
    produces: ClassVar = {
        "LibraryCirculation": ("refLibraryBranch", "dateObservedFrom", "dateObservedTo",
                               "quality", *METRICS.values()),
        "PointOfInterest": ("name", "category"),
    }
    default_source = _FIXTURES / "nagano_minami_monthly_circulation.csv"

    def _blocks(self, text: str) -> tuple[str, list[tuple[int, dict[str, list[str]]]]]:
        """(title, [(fiscal year, {metric: 12 month cells})]) of the table."""
        rows = list(csv.reader(text.splitlines()))
        at = next((i for i, r in enumerate(rows[:5]) if [nfkc(c).strip() for c in r] == _HEADER),
                  None)
        if at is None:
            raise SourceError(f"{self.source}: unexpected header: no row {','.join(_HEADER)}")
        title = rows[0][0] if at > 0 and rows[0] else ""
        labels: list[str] = []
        blocks: list[dict[str, list[str]]] = []
        for line in text.splitlines()[at + 1:]:
            if not line.strip():
                continue
            r = next(csv.reader([line]))
            if len(r) != len(_HEADER):
                raise SourceError(f"{self.source}: truncated or shifted row: {','.join(r)!r}")
            if r[0].strip():
                labels.append(r[0].strip())
                blocks.append({})
            if not blocks:
                raise SourceError(f"{self.source}: a metric row before any fiscal year")
            blocks[-1][nfkc(r[1]).strip()] = r[2:14]
        first = set(blocks[0]) if blocks else set()
        for label, b in zip(labels, blocks, strict=True):
            if set(b) != first:
                raise SourceError(f"{self.source}: truncated or irregular: {label} has metric "
                                  f"rows {sorted(b)}, the first year {sorted(first)}")
        try:
            years = parse_year_sequence(labels)
        except ValueError as exc:
            raise SourceError(f"{self.source}: {exc}") from exc
        return title, list(zip(years, blocks, strict=True))

    def check_text(self, text: str) -> list[str]:
        try:
            _, blocks = self._blocks(text)
        except SourceError as exc:
            return [str(exc)]
        known = set(METRICS) | set(UNMAPPED)
        unknown = sorted({m for _, b in blocks for m in b if m not in known})
        return [f"unknown metric rows (not read): {unknown}"] if unknown else []

    def rows(self, text: str) -> Iterator[Outcome]:
        title, blocks = self._blocks(text)
        # the branch: the option (or the registration's config), else the file's title
        # line; never a default, which would credit one branch's figures to another
        named = title.split()[0] if title and title.split() else ""
        if "library" not in self.options and not named:
            raise SourceError(f"{self.source}: which library branch is this? The file has no "
                              "title line naming it: pass --option library=<key> (and "
                              "library_name=<name>) or set library in the registration's config")
        library = str(self.options.get("library") or named)  # entity_id encodes it
        name = str(self.options.get("library_name", named or library))
        seen: dict[int, dict[str, list[str]]] = {}
        n = 0
        branch_sent = False
        for fy, block in blocks:
            repeated = seen.get(fy)
            seen.setdefault(fy, block)
            for k, month in enumerate(MONTHS):
                n += 1
                cells = {label: cells[k] for label, cells in block.items()}
                raw = f"{fy}年度 {month}月: " + ", ".join(f"{a}={v}" for a, v in cells.items())
                if repeated is not None:
                    if repeated == block:
                        yield Skip(self.source, n, "duplicate row")
                    else:
                        yield Quarantine(self.source, n, raw, f"conflicting duplicate: fiscal "
                                         f"year {fy} appears twice with other figures")
                    continue
                try:
                    entity = month_entity(library, fy, month, cells)
                except ValueError as exc:
                    yield Quarantine(self.source, n, raw, str(exc))
                    continue
                if entity is None:
                    yield Skip(self.source, n, "no figures for the month (―)")
                    continue
                entities = [entity] if branch_sent else [entity, branch(library, name)]
                branch_sent = True
                yield Emit(self.source, n, entities, entity["dateObservedTo"]["value"])
