"""The adapters the conformance suite runs, each with its fixture and its error fixtures.

Adding an adapter to Renkei means adding a ``Case`` here: the suite in
``test_conformance.py`` then holds it to the same contract as every other adapter.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from adapters.declarative import DeclarativeMapping
from adapters.jartic_traffic import JarticTrafficAdapter
from adapters.jma_amedas import AmedasAdapter
from adapters.library_circulation import LibraryCirculationAdapter
from adapters.library_loans import LibraryLoansAdapter
from adapters.mlit_water_level import MlitWaterLevelAdapter
from adapters.sdk import Adapter

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = Path(__file__).parents[2] / "adapters" / "examples"


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[..., Adapter]  # make(source=None, data=None) -> adapter
    encoding: str
    #: bytes with the header replaced by something else
    bad_header: Callable[[bytes], bytes]
    #: (bytes with garbage rows added, substrings their quarantine reasons contain)
    garbage: Callable[[bytes], tuple[bytes, list[str]]]
    #: bytes with one row repeated exactly; None where the format cannot repeat a row
    duplicate: Callable[[bytes], bytes] | None
    #: data rows a "fixture name"-less source must be told (options) to be read
    options: dict[str, str] | None = None


def _lines(data: bytes, enc: str) -> list[str]:
    return data.decode(enc).split("\r\n") if b"\r\n" in data else data.decode(enc).split("\n")


def _join(lines: list[str], enc: str) -> bytes:
    return "\r\n".join(lines).encode(enc)


def _csv_case(name: str, make: Callable[..., Adapter], enc: str, header_line: int,
              garbage_line: str, reasons: list[str], first_row: int,
              options: dict[str, str] | None = None) -> Case:
    def bad_header(data: bytes) -> bytes:
        lines = _lines(data, enc)
        lines[header_line] = "列A,列B,列C"
        return _join(lines, enc)

    def garbage(data: bytes) -> tuple[bytes, list[str]]:
        lines = _lines(data, enc)
        lines.insert(first_row + 1, garbage_line)
        lines.insert(first_row + 1, "ゴミ,ゴミ")
        return _join(lines, enc), reasons

    def duplicate(data: bytes) -> bytes:
        lines = _lines(data, enc)
        lines.insert(first_row + 1, lines[first_row])
        return _join(lines, enc)

    return Case(name, make, enc, bad_header, garbage, duplicate, options)


def _amedas_bad_header(data: bytes) -> bytes:
    return b'[["not", "a"], ["station", "map"]]'


def _amedas_garbage(data: bytes) -> tuple[bytes, list[str]]:
    doc = json.loads(data)
    first = next(iter(doc))
    doc[first] = {"temp": ["hot", 0]}
    doc["99999"] = {"temp": [20.1, 0]}
    doc["abc"] = {"temp": [1, 0]}
    doc["11016"] = {"humidity": [450, 0]}
    return json.dumps(doc).encode(), ["not a number", "not in the station table",
                                      "5-digit", "relativeHumidity"]


def _amedas_duplicate(data: bytes) -> bytes:
    first = json.loads(data)["11001"]
    return b'{"11001": ' + json.dumps(first).encode() + b"," + data.lstrip()[1:]


def _mlit_garbage_row() -> str:
    return "2023/01/15," + ",".join(["  321.5", " "] * 23) + ",abc, ,"


_ogawa = DeclarativeMapping.from_file(EXAMPLES / "ogawa_raingauge.toml")

CASES: list[Case] = [
    Case("jma-amedas", AmedasAdapter, "utf-8", _amedas_bad_header, _amedas_garbage,
         _amedas_duplicate, {"time": "20250628180000"}),
    _csv_case("mlit-water-level", MlitWaterLevelAdapter, "cp932", 0, _mlit_garbage_row(),
              ["hour 24: not a number", "not a date"], 10),
    _csv_case("jartic-traffic", JarticTrafficAdapter, "cp932", 0,
              "8,20,03000,1,20250512,805,-4,30,1,0,0,0,0,105,17,0,0,0,0,0,1,202505120805,36.2,"
              "138.0,,", ["not a vehicle count", "expected 26 fields"], 1),
    _csv_case("library-loans", LibraryLoansAdapter, "cp932", 0,
              "7,30,タイトル　著者／著　出版社　2009.5　20cm,913.6,4-10-353422-9",
              ["check digit", "expected 5 fields"], 1,
              {"fiscal_year": "H26", "library": "wakayama-pref-main",
               "library_name": "和歌山県立図書館"}),
    Case("library-circulation", LibraryCirculationAdapter, "cp932",
         lambda d: _join([ln if i != 1 else "年,区分,4月"
                          for i, ln in enumerate(_lines(d, "cp932"))], "cp932"),
         lambda d: (_join([ln.replace("3191", "三千", 1) if "予約件数" in ln else ln
                           for ln in _lines(d, "cp932")], "cp932"), ["予約件数: not a number"]),
         lambda d: _join(_lines(d, "cp932")[:-1] + _lines(d, "cp932")[2:8] + [""], "cp932")),
    _csv_case("ogawa-raingauge", _ogawa.adapter, "cp932", 1,
              "OG01,高府,令和5年6月1日,5,たくさん,18.0,36.6167,137.9747",
              ["not a number", "expected 8 fields"], 2),
]


def make(case: Case, source: str | Path | None = None, data: bytes | None = None) -> Adapter:
    """The case's adapter on its default fixture, a file, or bytes."""
    if case.options and (data is not None or "library" in case.options):
        return case.make(source, data=data, options=case.options)
    return case.make(source, data=data)
