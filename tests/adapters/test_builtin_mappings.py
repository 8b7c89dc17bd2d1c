"""What each built-in adapter does with its source's particular quirks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapters.jartic_traffic import JarticTrafficAdapter
from adapters.jma_amedas import AmedasAdapter
from adapters.library_circulation import LibraryCirculationAdapter
from adapters.library_loans import LibraryLoansAdapter
from adapters.library_loans.mapping import isbn13, split_bibliographic
from adapters.mlit_water_level import MlitWaterLevelAdapter
from adapters.sdk import Emit, Quarantine, Skip, State

FIX = Path(__file__).parent / "fixtures"


def _by_id(adapter: Any) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for o in adapter.read() if isinstance(o, Emit) for e in o.entities}


def _v(entity: dict[str, Any], name: str) -> Any:
    return entity[name]["value"] if name in entity else None


# -- JMA AMeDAS ----------------------------------------------------------------------------

def test_amedas_nagano_station_values_units_and_position() -> None:
    e = _by_id(AmedasAdapter())
    nagano = e["urn:ngsi-ld:WeatherObserved:jma-amedas-48156:20250628T1800"]
    assert _v(nagano, "temperature") == 26.8 and nagano["temperature"]["unitCode"] == "CEL"
    assert _v(nagano, "relativeHumidity") == 0.45  # 45 % as a fraction
    assert _v(nagano, "dateObserved") == "2025-06-28T18:00:00+09:00"
    assert _v(nagano, "precipitationPeriod") == "PT1H"
    # [36, 39.7] degrees + decimal minutes = 36.661667
    assert nagano["location"]["value"]["coordinates"] == [138.191667, 36.661667]
    assert e["urn:ngsi-ld:WeatherObserved:jma-amedas-48156:20250628T1800:PT10M"]
    assert _v(e["urn:ngsi-ld:Device:jma-amedas-48156"], "name") == "長野"


def test_amedas_nulls_and_placeholders_are_never_zero() -> None:
    e = _by_id(AmedasAdapter())
    # 63071 humidity is [null, 5]; 11016 snow is [null, 5]: no attribute at all
    assert "relativeHumidity" not in e["urn:ngsi-ld:WeatherObserved:jma-amedas-63071:20250628T1800"]
    assert "snowHeight" not in e["urn:ngsi-ld:WeatherObserved:jma-amedas-11016:20250628T1800"]


def test_amedas_flags_become_quality_and_missing_entities_say_so() -> None:
    data = json.dumps({"48156": {"temp": [None, 5], "precipitation1h": [None, 5]},
                       "48361": {"temp": [20.0, 0], "precipitation1h": [3.5, 1]},
                       "48331": {"temp": [21.0, 0], "precipitation24h": [40.0, 4]}}).encode()
    e = _by_id(AmedasAdapter(data=data, options={"time": "20250628180000"}))
    missing = e["urn:ngsi-ld:WeatherObserved:jma-amedas-48156:20250628T1800"]
    assert _v(missing, "quality") == "missing" and "temperature" not in missing
    assert _v(e["urn:ngsi-ld:WeatherObserved:jma-amedas-48361:20250628T1800"],
              "quality") == "estimated"
    assert _v(e["urn:ngsi-ld:WeatherObserved:jma-amedas-48331:20250628T1800:PT24H"],
              "quality") == "questionable"


def test_amedas_prefecture_filter_is_a_documented_skip() -> None:
    outs = list(AmedasAdapter(options={"prefecture": "48"}).read())
    emits = [o for o in outs if isinstance(o, Emit)]
    assert len(emits) == 45  # the 45 Nagano stations of the snapshot
    assert all(o.reason == "outside the selected prefecture" for o in outs
               if isinstance(o, Skip))


# -- MLIT water level ----------------------------------------------------------------------

def test_mlit_hour_24_rolls_over_and_flags_map_to_quality() -> None:
    e = _by_id(MlitWaterLevelAdapter(FIX / "mlit_water_level" /
                                     "mlit_flags_301011281104010_202301.dat"))
    key = "urn:ngsi-ld:WaterObserved:mlit-301011281104010:"
    assert _v(e[key + "20230201T0000"], "dateObserved") == "2023-02-01T00:00:00+09:00"
    assert _v(e[key + "20230102T0300"], "quality") == "missing"      # $
    assert "waterLevel" not in e[key + "20230102T0300"]
    assert _v(e[key + "20230102T0400"], "quality") == "provisional"  # *
    assert _v(e[key + "20230102T0500"], "quality") == "missing"      # #
    assert _v(e[key + "20230101T0100"], "waterLevel") == 321.52
    assert e[key + "20230101T0100"]["waterLevel"]["unitCode"] == "MTR"


def test_mlit_station_position_from_tokyo_datum_when_no_jgd(tmp_path: Path) -> None:
    meta = json.loads((FIX / "mlit_water_level" / "mlit_station_metadata.json").read_text())
    del meta[0]["世界測地系"]
    p = tmp_path / "meta.json"
    p.write_text(json.dumps(meta, ensure_ascii=False))
    e = _by_id(MlitWaterLevelAdapter(options={"stations": str(p)}))
    lon, lat = e["urn:ngsi-ld:Device:mlit-301011281104010"]["location"]["value"]["coordinates"]
    # within ~30 m of the published JGD position 44°04'29" 142°44'25"
    assert lat == pytest.approx(44.074722, abs=0.0003) and lon == pytest.approx(142.740278,
                                                                               abs=0.0003)


def test_mlit_revised_values_within_the_lookback_overwrite() -> None:
    plain = MlitWaterLevelAdapter()
    state = State(cursor="2023-02-01T00:00:00+09:00", source_digest=plain.digest(), position=99)
    revised = MlitWaterLevelAdapter(FIX / "mlit_water_level" /
                                    "mlit_flags_301011281104010_202301.dat")
    outs = list(revised.read(state))
    # a new file (other digest) within the 31-day window: every day is read again
    assert all(isinstance(o, Emit) for o in outs)
    late = State(cursor="2023-03-15T00:00:00+09:00")
    outs = list(revised.read(late))
    assert all(isinstance(o, Skip) and "look-back" in o.reason for o in outs)


# -- JARTIC traffic ------------------------------------------------------------------------

def test_jartic_six_entities_per_row_missing_and_faults() -> None:
    outs = [o for o in JarticTrafficAdapter().read() if isinstance(o, Emit)]
    assert all(len(o.entities) == 6 for o in outs)
    e = {x["id"]: x for o in outs for x in o.entities}
    base = "urn:ngsi-ld:TrafficFlowObserved:jartic-8-22-03002:"
    up = e[base + "up:car:20250512T0805"]
    assert _v(up, "quality") == "missing" and "intensity" not in up
    assert _v(e[base + "up:all:20250512T0805"], "quality") == "missing"
    down = e["urn:ngsi-ld:TrafficFlowObserved:jartic-8-20-03003:down:car:20250512T0805"]
    assert _v(down, "quality") == "questionable"  # ループ異常
    first = e["urn:ngsi-ld:TrafficFlowObserved:jartic-8-20-03000:up:all:20250512T0805"]
    assert _v(first, "intensity") == 41 + 30 + 1
    assert _v(first, "dateObservedFrom") == "2025-05-12T08:00:00+09:00"
    assert _v(first, "laneDirection") == "forward" and "vehicleType" not in first
    section = e["urn:ngsi-ld:TrafficFlowObserved:jartic-8-21-03001:down:lorry:20250512T0805"]
    assert section["location"]["value"]["type"] == "LineString"


def test_jartic_time_columns_must_agree() -> None:
    data = (FIX / "jartic_traffic" / "jartic_5min_20250512.csv").read_bytes()
    lines = data.split(b"\r\n")
    lines[1] = lines[1].replace(b",805,", b",810,", 1)
    outs = list(JarticTrafficAdapter(data=b"\r\n".join(lines)).read())
    assert isinstance(outs[0], Quarantine) and "disagrees" in outs[0].reason


# -- libraries -----------------------------------------------------------------------------

def test_bibliographic_field_is_split() -> None:
    assert split_bibliographic("1Q84　BOOK1　村上 春樹／著　新潮社　2009.5　20cm　554p") == (
        "1Q84 BOOK1", "村上 春樹／著", "新潮社")
    assert split_bibliographic("新編日本古典文学全集　44　小学館　1995.3　23cm　606p") == (
        "新編日本古典文学全集 44", None, "小学館")


def test_isbn_forms_in_the_wakayama_files() -> None:
    assert isbn13("4-591-04623-0") == "9784591046234"   # a real ISBN-10
    assert isbn13("4-10-353422-8") == "9784103534228"   # an ISBN-13 without 978-
    assert isbn13("") is None
    with pytest.raises(ValueError):
        isbn13("4-10-353422-9")


def test_loan_ranking_entities_and_no_personal_data(tmp_path: Path) -> None:
    src = (FIX / "library" / "wakayama_pref_lib_main_h26_loan_top100_general.csv").read_bytes()
    lines = src.decode("cp932").split("\r\n")
    lines[0] += ",利用者番号,氏名,電話番号"
    lines[1:] = [ln + ",U0012345,山田 花子,090-1234-5678" if ln else ln for ln in lines[1:]]
    p = tmp_path / "wakayama_pref_lib_main_h26_loan_top100_with_personal_data.csv"
    p.write_bytes("\r\n".join(lines).encode("cp932"))
    outs = list(LibraryLoansAdapter(p, options={"library": "wakayama-pref-main"}).read())
    dump = json.dumps([o.entities for o in outs if isinstance(o, Emit)], ensure_ascii=False)
    assert len([o for o in outs if isinstance(o, Emit)]) == 119
    for personal in ("U0012345", "山田", "090-1234-5678", "利用者番号"):
        assert personal not in dump
    first = outs[0].entities[0]  # type: ignore[union-attr]
    assert _v(first, "title") == "1Q84 BOOK1" and _v(first, "isbn") == "9784103534228"
    assert _v(first, "dateObservedFrom") == "2014-04-01T00:00:00+09:00"  # FY 平成26


def test_picture_books_have_no_ndc() -> None:
    e = _by_id(LibraryLoansAdapter(FIX / "library" /
                                   "wakayama_pref_lib_main_h26_loan_top100_children.csv",
                                   options={"library": "wakayama-pref-main"}))
    ndcs = {_v(x, "ndc") for x in e.values() if x["type"] == "LibraryLoanRanking"}
    assert "E" not in ndcs and None in ndcs and "913.6" in ndcs


def test_circulation_fiscal_years_months_and_numbers() -> None:
    e = _by_id(LibraryCirculationAdapter(options={"library": "nagano-minami"}))
    key = "urn:ngsi-ld:LibraryCirculation:nagano-minami:"
    apr = e[key + "2018-04"]  # 平成30年度 4月
    assert _v(apr, "visitors") == 26205 and _v(apr, "loans") == 44216  # "26205.0", "44,216"
    assert _v(e[key + "2020-01"], "dateObservedTo") == "2020-02-01T00:00:00+09:00"  # 令和元年度 1月
    assert key + "2020-10" in e  # bare "2" = 令和2年度
    assert key + "2020-11" not in e  # ― for every metric: not yet published
    assert "referenceQuestions" not in e[key + "2020-02"]  # a ― cell
