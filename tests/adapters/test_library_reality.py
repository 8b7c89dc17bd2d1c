"""Library files as they are published (issue #15): the branch never defaulted, NDC
numbers that lost their leading zeros repaired and reported, replacement characters
flagged, mojibake detected and reported with what the text was."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.library_circulation import LibraryCirculationAdapter
from adapters.library_loans import LibraryLoansAdapter
from adapters.sdk import Emit, Quarantine, SourceError, StateStore, entity_id, run_adapter
from tests.adapters.recording import RecordingSink

LIB = Path(__file__).parent / "fixtures" / "library"
GENERAL = LIB / "wakayama_pref_lib_main_h26_loan_top100_general.csv"
BRANCH = {"library": "wakayama-pref-main"}


def _lines() -> list[str]:
    return GENERAL.read_bytes().decode("cp932").split("\n")


def _write(tmp: Path, lines: list[str], name: str = "x_h26_general.csv") -> Path:
    path = tmp / name
    path.write_bytes("\n".join(lines).encode("cp932"))
    return path


async def test_no_branch_is_an_error_naming_the_options(tmp_path: Path) -> None:
    adapter = LibraryLoansAdapter(GENERAL)
    result = adapter.check()
    assert not result.ok and "--option library=" in result.messages[0]
    assert "registration" in result.messages[0] and "館名" in result.messages[0]
    with pytest.raises(SourceError):
        list(adapter.read())
    report = await run_adapter(LibraryLoansAdapter(GENERAL), RecordingSink(),
                               StateStore(tmp_path))
    assert report.status == "failed" and report.written == 0 and report.quarantined == 0
    # the explicit option: every entry credited to that branch
    sink = RecordingSink()
    ok = await run_adapter(LibraryLoansAdapter(GENERAL, options=BRANCH), sink,
                           StateStore(tmp_path / "ok"))
    assert ok.written > 0
    refs = {e["refLibraryBranch"]["object"] for e in sink.stored.values()
            if e["type"] == "LibraryLoanRanking"}
    assert refs == {"urn:ngsi-ld:PointOfInterest:wakayama-pref-main"}


def test_the_branch_from_a_column_of_the_file(tmp_path: Path) -> None:
    lines = _lines()
    lines[0] += ",館名"
    lines[1:] = [ln + (",紀南分館" if i % 2 else ",本館") if ln else ln
                 for i, ln in enumerate(lines[1:])]
    outs = list(LibraryLoansAdapter(_write(tmp_path, lines)).read())
    emits = [o for o in outs if isinstance(o, Emit)]
    refs = {e["refLibraryBranch"]["object"] for o in emits for e in o.entities
            if e["type"] == "LibraryLoanRanking"}
    assert refs == {entity_id("PointOfInterest", "本館"),
                    entity_id("PointOfInterest", "紀南分館")}
    branches = [e for o in emits for e in o.entities if e["type"] == "PointOfInterest"]
    assert sorted(b["name"]["value"] for b in branches) == ["本館", "紀南分館"]


def test_circulation_without_a_title_or_option_is_an_error(tmp_path: Path) -> None:
    lines = (LIB / "nagano_minami_monthly_circulation.csv").read_bytes().decode("cp932")
    path = tmp_path / "c.csv"
    path.write_bytes(("\r\n".join(["", *lines.split("\r\n")[1:]])).encode("cp932"))
    result = LibraryCirculationAdapter(path).check()
    assert not result.ok or "library" in " ".join(result.messages)
    with pytest.raises(SourceError, match="--option library="):
        list(LibraryCirculationAdapter(path).read())
    titled = [o for o in LibraryCirculationAdapter().read() if isinstance(o, Emit)]
    assert titled[0].entities[0]["id"].startswith(
        entity_id("LibraryCirculation", "長野市立みなみ図書館") + ":")


async def test_ndc_repaired_replacements_flagged_mojibake_quarantined(tmp_path: Path) -> None:
    lines = _lines()
    assert lines[1].split(",")[3] == "913.6"
    first = lines[1].split(",")
    first[3] = "7.6"  # a spreadsheet ate the zeros of 007.6
    lines[1] = ",".join(first)
    garbled = lines[2].split(",")
    garbled[2] = "村上春樹　新潮社".encode().decode("cp932", "replace")
    lines[2] = ",".join(garbled)
    path = _write(tmp_path, lines)
    sink = RecordingSink()
    report = await run_adapter(LibraryLoansAdapter(path, options=BRANCH), sink,
                               StateStore(tmp_path / "s"))
    assert report.reconciles() and report.status == "partial"
    fixed = [e for e in sink.stored.values() if e.get("rank", {}).get("value") == 1]
    assert fixed[0]["ndc"]["value"] == "007.6"
    assert report.flags["ndc repaired: leading zeros restored (7.6 -> 007.6)"] == 1
    # 第?捜査官 and 任?病院: characters the CP932 export could not hold
    assert report.flags["replacement character in 書誌情報 (a character the export lost)"] == 2
    (q,) = [q for q in report.quarantine if "mojibake" in q["reason"]]
    assert q["row"] == 3 and "村上春樹" in q["reason"]
    outs = list(LibraryLoansAdapter(path, options=BRANCH).read())
    assert sum(isinstance(o, Quarantine) for o in outs) == report.quarantined
