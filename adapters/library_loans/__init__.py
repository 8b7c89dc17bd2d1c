"""Library loan-ranking CSV (CP932) → LibraryLoanRanking + the branch (see README.md)."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from adapters.library_loans.mapping import branch, normalise_ndc, ranking_entry
from adapters.sdk import Adapter, Dedup, Emit, Manifest, Outcome, Quarantine, Skip, SourceError
from adapters.sdk.dates import parse_year
from adapters.sdk.garble import mojibake, replacement_marks
from adapters.sdk.text import nfkc
from contracts import DEFAULT_MIN_GROUP_SIZE, InvalidIsbn, is_publishable

__all__ = ["LibraryLoansAdapter"]

_HERE = Path(__file__).resolve().parent
_FIXTURES = _HERE.parent.parent / "tests" / "adapters" / "fixtures" / "library"
#: the columns read, after NFKC (ＩＳＢＮ → ISBN); any others are never read
COLUMNS = ("順位", "貸出数", "書誌情報", "分類", "ISBN")
#: a column naming the branch, in files that carry it (after NFKC)
BRANCH_COLUMNS = ("館名", "図書館名", "所蔵館", "貸出館")
#: what is reported when the branch is nowhere (never a default: a branch's ranking
#: credited to the main library is wrong data that looks right)
NO_BRANCH = ("which library branch is this ranking of? Pass --option library=<key> (and "
             "library_name=<name>), set library in the registration's config, or give the "
             "file a 館名 column")


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

    row_unit = "line"  # rows are numbered by the file's lines

    def rows(self, text: str) -> Iterator[Outcome]:
        lines = text.splitlines()
        if not lines:
            raise SourceError(f"{self.source}: truncated: empty file")
        header = [nfkc(h).strip() for h in next(csv.reader(lines[:1]))]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise SourceError(f"{self.source}: unexpected header: missing columns {missing}")
        at = {c: header.index(c) for c in COLUMNS}
        branch_at = next((header.index(c) for c in BRANCH_COLUMNS if c in header), None)
        if "library" not in self.options and branch_at is None:
            raise SourceError(f"{self.source}: {NO_BRANCH}")
        fixed = str(self.options["library"]) if "library" in self.options else None
        fy, category = self._fiscal_year(), self._category()
        minimum = int(self.options.get("min_group_size", DEFAULT_MIN_GROUP_SIZE))
        dedup = Dedup()
        branches_sent: set[str] = set()
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
            cell = nfkc(fields[branch_at]).strip() if branch_at is not None else ""
            if fixed is None and not cell:
                yield Quarantine(self.source, n, raw, f"館名 is blank: {NO_BRANCH}")
                continue
            library = fixed or cell
            name = str(self.options.get("library_name", cell or library))
            if garbled := next((t for t in fields if mojibake(t)), None):
                yield Quarantine(self.source, n, raw, "mojibake: UTF-8 text read as CP932 "
                                 f"upstream ({garbled[:20]!r} was {mojibake(garbled)!r})")
                continue
            try:
                entry = ranking_entry(library, fy, category, v["順位"], v["貸出数"],
                                      v["書誌情報"], v["分類"], v["ISBN"])
            except (ValueError, InvalidIsbn) as exc:
                yield Quarantine(self.source, n, raw, str(exc))
                continue
            if not is_publishable(entry["loans"]["value"], minimum):
                yield Skip(self.source, n, "loans below the minimum group size (suppressed)")
                continue
            entities = [entry] if library in branches_sent else [entry, branch(library, name)]
            out = dedup.check(Emit(self.source, n, entities, flags=_flags(v)), raw, fields)
            if isinstance(out, Emit):
                branches_sent.add(library)
            yield out


def _flags(v: dict[str, str]) -> tuple[str, ...]:
    """What a written row carries that is not quite the source's intent (RunReport.flags)."""
    flags = []
    if normalise_ndc(v["分類"])[1]:
        flags.append("ndc repaired: leading zeros restored (7.6 -> 007.6)")
    if replacement_marks(v["書誌情報"]):
        flags.append("replacement character in 書誌情報 (a character the export lost)")
    return tuple(flags)
