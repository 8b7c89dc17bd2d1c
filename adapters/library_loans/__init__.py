"""Library loan-ranking CSV (CP932) → LibraryLoanRanking + the branch (see README.md)."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from adapters.library_loans.mapping import branch, ranking_entry
from adapters.sdk import Adapter, Dedup, Emit, Manifest, Outcome, Quarantine, Skip, SourceError
from adapters.sdk.dates import parse_year
from adapters.sdk.text import nfkc
from contracts import DEFAULT_MIN_GROUP_SIZE, InvalidIsbn, is_publishable

__all__ = ["LibraryLoansAdapter"]

_HERE = Path(__file__).resolve().parent
_FIXTURES = _HERE.parent.parent / "tests" / "adapters" / "fixtures" / "library"
#: the columns read, after NFKC (ＩＳＢＮ → ISBN); any others are never read
COLUMNS = ("順位", "貸出数", "書誌情報", "分類", "ISBN")


class LibraryLoansAdapter(Adapter):
    manifest = Manifest.from_file(_HERE / "manifest.toml")
    produces: ClassVar = {
        "LibraryLoanRanking": ("refLibraryBranch", "dateObservedFrom", "dateObservedTo", "rank",
                               "loans", "title", "author", "publisher", "ndc", "isbn"),
        "PointOfInterest": ("name", "category"),
    }
    default_source = _FIXTURES / "wakayama_pref_lib_main_h26_loan_top100_general.csv"

    def _fiscal_year(self) -> int:
        fy = self.options.get("fiscal_year")
        if fy is None:
            m = re.search(r"_([hHrR]\d{1,2})_", Path(self.source).name)
            if not m:
                raise SourceError(f"{self.source}: fiscal year unknown (pass fiscal_year)")
            fy = m.group(1)
        return parse_year(str(fy))

    def _category(self) -> str:
        if "category" in self.options:
            return str(self.options["category"])
        name = Path(self.source).stem
        return "children" if "children" in name else "general"

    def rows(self, text: str) -> Iterator[Outcome]:
        lines = text.splitlines()
        if not lines:
            raise SourceError(f"{self.source}: truncated: empty file")
        header = [nfkc(h).strip() for h in next(csv.reader(lines[:1]))]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise SourceError(f"{self.source}: unexpected header: missing columns {missing}")
        at = {c: header.index(c) for c in COLUMNS}
        library = str(self.options.get("library", "wakayama-pref-main"))
        name = str(self.options.get("library_name", "和歌山県立図書館"))
        fy, category = self._fiscal_year(), self._category()
        minimum = int(self.options.get("min_group_size", DEFAULT_MIN_GROUP_SIZE))
        dedup = Dedup()
        branch_sent = False
        # csv over the whole text: a quoted 書誌情報 may contain commas (and line breaks)
        reader = csv.reader(lines[1:])
        for fields in reader:
            n = reader.line_num + 1
            raw = ",".join(fields)
            if not raw.strip():
                yield Skip(self.source, n, "blank line")
                continue
            if len(fields) != len(header):
                yield Quarantine(self.source, n, raw,
                                 f"expected {len(header)} fields, got {len(fields)}")
                continue
            v = {c: fields[i] for c, i in at.items()}
            try:
                entry = ranking_entry(library, fy, category, v["順位"], v["貸出数"],
                                      v["書誌情報"], v["分類"], v["ISBN"])
            except (ValueError, InvalidIsbn) as exc:
                yield Quarantine(self.source, n, raw, str(exc))
                continue
            if not is_publishable(entry["loans"]["value"], minimum):
                yield Skip(self.source, n, "loans below the minimum group size (suppressed)")
                continue
            entities = [entry] if branch_sent else [entry, branch(library, name)]
            out = dedup.check(Emit(self.source, n, entities), raw, fields)
            branch_sent = branch_sent or isinstance(out, Emit)
            yield out
