"""The SDK's normalisation helpers on the quirks real Japanese files have."""

from __future__ import annotations

import codecs
from datetime import date

import pytest

from adapters.sdk.dates import (
    fiscal_year_of,
    iso_jst,
    jst_datetime,
    month_in_fiscal_year,
    parse_date,
    parse_year,
    parse_year_sequence,
)
from adapters.sdk.entity import entity_id
from adapters.sdk.geo import degrees_decimal_minutes, parse_dms_pair, tokyo_to_jgd2011
from adapters.sdk.text import DecodeError, decode, detect_encoding, is_missing, parse_number

TEXT = "観測所,水位\r\n茂志利,321.52\r\n"


def test_cp932_decoded_before_lines_are_split() -> None:
    # 0x85 is a Shift_JIS trail byte here ("ソ" = 83 5C, "・" = 81 45, "ア" = 83 41 …);
    # "表" = 95 5C and "ー" = 81 5B: decode first, split after.
    data = "ソース表ー…\r\n二行目\r\n".encode("cp932")
    text, enc = decode(data, "shift_jis")
    assert enc == "cp932"
    assert text.splitlines() == ["ソース表ー…", "二行目"]


@pytest.mark.parametrize("data,enc", [
    (codecs.BOM_UTF8 + TEXT.encode(), "utf-8-sig"),
    (codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"), "utf-16"),
    (TEXT.encode("utf-16-le"), "utf-16-le"),
    (TEXT.encode("utf-8"), "utf-8"),
    (TEXT.encode("cp932"), "cp932"),
])
def test_detect_encoding(data: bytes, enc: str) -> None:
    assert detect_encoding(data) == enc
    assert decode(data)[0] == TEXT


def test_wrong_encoding_is_an_error_not_a_guess() -> None:
    with pytest.raises(DecodeError, match="looks like cp932"):
        decode(TEXT.encode("cp932"), "utf-8")
    # a UTF-8 BOM is honoured even when utf-8 is declared
    assert decode(codecs.BOM_UTF8 + b"a,b", "utf-8")[0] == "a,b"


@pytest.mark.parametrize("raw", ["欠測", "///", "×", "--", "—", "$", "#", "未受信", "閉局", "",
                                 "  ", "null", None])
def test_missing_markers(raw: str | None) -> None:
    assert is_missing(raw)
    assert parse_number(raw) is None


def test_numbers() -> None:
    assert parse_number("  321.52") == 321.52
    assert parse_number("１，２３４") == 1234.0
    assert parse_number('25244.0') == 25244.0
    assert parse_number("-1.5") == -1.5
    assert parse_number(0) == 0.0
    with pytest.raises(ValueError):
        parse_number("abc")


@pytest.mark.parametrize("raw", ["0", "12", "-3.25", "+7.", ".5", "1e3", "2.5E-2", "9999",
                                 "-9999", "0012"])
def test_plain_numbers_parse_as_the_general_path_does(raw: str) -> None:
    # a plain ASCII number skips NFKC; padded, the same text takes the general path
    for extra in (frozenset(), frozenset({"-9999", "9999"})):
        assert parse_number(raw, extra) == parse_number(f" {raw}\u3000", extra)
        assert (parse_number(raw, extra) is None) == (raw in extra)


@pytest.mark.parametrize("label,year", [
    ("令和元年", 2019), ("令和5年度", 2023), ("R5", 2023), ("H30", 2018), ("平成26年度", 2014),
    ("平成31年", 2019), ("昭和64年", 1989), ("2023年度", 2023), ("Ｒ５年度", 2023),
])
def test_years(label: str, year: int) -> None:
    assert parse_year(label) == year


def test_bare_continuation_years_take_the_era_before_them() -> None:
    assert parse_year_sequence(["平成30年度", "令和元年度", "2", "3"]) == [2018, 2019, 2020, 2021]
    assert parse_year_sequence(["H22", "23", "24"]) == [2010, 2011, 2012]
    with pytest.raises(ValueError, match="without an era"):
        parse_year_sequence(["24"])


def test_fiscal_year_months() -> None:
    assert month_in_fiscal_year(2023, 4) == (2023, 4)
    assert month_in_fiscal_year(2023, 3) == (2024, 3)
    assert fiscal_year_of(date(2024, 3, 31)) == 2023
    assert fiscal_year_of(date(2024, 4, 1)) == 2024


@pytest.mark.parametrize("text,d", [
    ("令和5年4月1日", date(2023, 4, 1)), ("R5.4.1", date(2023, 4, 1)),
    ("H30/12/31", date(2018, 12, 31)), ("令和元年5月1日", date(2019, 5, 1)),
    ("2023/01/02", date(2023, 1, 2)), ("20230102", date(2023, 1, 2)),
    ("２０２３年１月２日", date(2023, 1, 2)),
])
def test_dates(text: str, d: date) -> None:
    assert parse_date(text) == d


def test_hour_24_is_next_day_midnight_in_jst() -> None:
    assert iso_jst(jst_datetime(date(2023, 1, 31), 24)) == "2023-02-01T00:00:00+09:00"
    assert iso_jst(jst_datetime(date(2023, 12, 31), 24)) == "2024-01-01T00:00:00+09:00"
    assert iso_jst(jst_datetime(date(2023, 1, 1), 1)) == "2023-01-01T01:00:00+09:00"
    with pytest.raises(ValueError):
        jst_datetime(date(2023, 1, 1), 25)


def test_coordinates() -> None:
    assert degrees_decimal_minutes([45, 31.2]) == pytest.approx(45.52)
    lat, lon = parse_dms_pair("北緯 44度04分29秒 東経 142度44分25秒")
    assert (lat, lon) == (pytest.approx(44.074722, abs=1e-6), pytest.approx(142.740278, abs=1e-6))


def test_tokyo_datum_shift_matches_published_pairs() -> None:
    # MLIT publishes both datums for each station (fixtures/mlit_station_metadata.json).
    # The shift is ~8-15 arc-seconds; the formula lands within 4" (~120 m) of MLIT's JGD
    # figure (within 0.6" at 茂志利). MLIT's pairs are not a pure datum shift (stations were
    # re-surveyed), which is why the MLIT adapter prefers the 世界測地系 field when present.
    for tokyo, jgd in [
        ("北緯 44度04分21秒 東経 142度44分39秒", "北緯 44度04分29秒 東経 142度44分25秒"),
        ("北緯 35度40分49秒 東経 139度25分00秒", "北緯 35度41分04秒 東経 139度24分47秒"),
    ]:
        lat, lon = tokyo_to_jgd2011(*parse_dms_pair(tokyo))
        want = parse_dms_pair(jgd)
        assert abs(lat - want[0]) < 0.0012 and abs(lon - want[1]) < 0.0012
        # and it moves the point the right way: closer than the unshifted Tokyo position
        t = parse_dms_pair(tokyo)
        assert abs(lat - want[0]) < abs(t[0] - want[0]) / 2


def test_entity_ids_are_deterministic_and_safe() -> None:
    assert entity_id("WeatherObserved", "48156", "2025-06-28T18:00") == \
        "urn:ngsi-ld:WeatherObserved:48156:2025-06-28T18%3A00"
    assert entity_id("X", "長野 市") == entity_id("X", "長野 市")
    assert " " not in entity_id("X", "長野 市")
