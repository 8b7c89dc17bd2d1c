"""JARTIC open-traffic CSV (5-minute / 1-hour) → TrafficFlowObserved (see README.md)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

from adapters.jartic_traffic.layout import COLUMNS
from adapters.jartic_traffic.mapping import row_entities
from adapters.sdk import Adapter, Dedup, Emit, Manifest, Outcome, Quarantine, Skip, SourceError
from adapters.sdk.manifest import parse_duration
from adapters.sdk.text import nfkc

__all__ = ["JarticTrafficAdapter"]

_HERE = Path(__file__).resolve().parent
_FIXTURES = _HERE.parent.parent / "tests" / "adapters" / "fixtures" / "jartic_traffic"
_INTERVALS = {"1": timedelta(minutes=5), "2": timedelta(hours=1)}


class JarticTrafficAdapter(Adapter):
    manifest = Manifest.from_file(_HERE / "manifest.toml")
    produces: ClassVar = {"TrafficFlowObserved": (
        "dateObservedFrom", "dateObservedTo", "location", "laneDirection", "vehicleType",
        "intensity", "quality")}
    default_source = _FIXTURES / "jartic_5min_20250512.csv"

    row_unit = "line"  # rows are numbered by the file's lines

    def rows(self, text: str) -> Iterator[Outcome]:
        lines = text.splitlines()
        if not lines:
            raise SourceError(f"{self.source}: truncated: empty file")
        header = [nfkc(h).strip() for h in next(csv.reader(lines[:1]))]
        want = [nfkc(c) for c in COLUMNS]
        if header[:len(want) - 2] != want[:-2]:
            missing = [c for c in want if c not in header]
            raise SourceError(f"{self.source}: unexpected header (missing or out of order: "
                              f"{missing or 'order differs'})")
        names = [c for c in COLUMNS][:len(header)]
        fixed = self.options.get("interval")
        dedup = Dedup()
        for n, fields in enumerate(csv.reader(lines[1:]), 2):
            raw = lines[n - 1]
            if not raw.strip():
                yield Skip(self.source, n, "blank line")
                continue
            if len(fields) != len(names):
                yield Quarantine(self.source, n, raw,
                                 f"expected {len(names)} fields, got {len(fields)}")
                continue
            r = dict(zip(names, fields, strict=True))
            r.setdefault("lat2", "")
            r.setdefault("lng2", "")
            try:
                interval = (parse_duration(fixed) if fixed
                            else _INTERVALS[r["収集時間フラグ"].strip()])
                entities, cursor = row_entities(r, interval)
            except KeyError:
                yield Quarantine(self.source, n, raw,
                                 f"unknown 収集時間フラグ {r['収集時間フラグ']!r} (1 or 2)")
                continue
            except ValueError as exc:
                yield Quarantine(self.source, n, raw, str(exc))
                continue
            yield dedup.check(Emit(self.source, n, entities, cursor), raw, fields)
