"""AMeDAS layouts recognised by content (issue #15): the map file, the per-station point
file, the station table; an unknown layout is an error naming what it found, never a run
of quarantined rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.jma_amedas import AmedasAdapter
from adapters.sdk import Emit, SourceError, StateStore, run_adapter
from tests.adapters.recording import RecordingSink

FIX = Path(__file__).parent / "fixtures" / "jma_amedas"
POINT = FIX / "amedas_point_44132_20241123_18.json"


def test_a_point_file_reads_one_station_over_time() -> None:
    # the bytes alone, under no telling name: the layout and the station come from content
    outs = list(AmedasAdapter(data=POINT.read_bytes()).read())
    assert all(isinstance(o, Emit) for o in outs) and len(outs) == 18
    emits = [o for o in outs if isinstance(o, Emit)]
    times = [o.cursor for o in emits]
    assert times[0] == "2024-11-23T18:00:00+09:00" and times[-1] == "2024-11-23T20:50:00+09:00"
    ids = [e["id"] for o in emits for e in o.entities]
    assert ids.count("urn:ngsi-ld:Device:jma-amedas-44132") == 1  # the station once
    main = emits[0].entities[0]
    # same id scheme as the map file: a station's entity is one entity whichever file
    assert main["id"] == "urn:ngsi-ld:WeatherObserved:jma-amedas-44132:20241123T1800"
    assert main["temperature"]["value"] == 12.0 and main["name"]["value"] == "東京"
    assert main["relativeHumidity"]["value"] == 0.45
    assert len(set(ids)) == len(ids)


async def test_a_point_file_runs(tmp_path: Path) -> None:
    report = await run_adapter(AmedasAdapter(POINT), RecordingSink(), StateStore(tmp_path))
    assert report.status == "succeeded" and report.written == 18 and report.reconciles()


def test_the_station_table_is_named_not_quarantined() -> None:
    result = AmedasAdapter(FIX / "amedastable.json").check()
    assert not result.ok and "station table" in result.messages[0]
    assert "stations option" in result.messages[0]


@pytest.mark.parametrize("doc", [
    {"2025-06-28T18:00": {"temp": [1, 0]}, "2025-06-28T18:10": {"temp": [1, 0]}},
    {"stations": {"11001": {}}, "time": "x"},
])
async def test_an_unknown_layout_is_an_error_naming_what_it_found(
        doc: dict[str, object], tmp_path: Path) -> None:
    adapter = AmedasAdapter(data=json.dumps(doc).encode())
    result = adapter.check()
    assert not result.ok
    first_key = next(iter(doc))
    assert repr(first_key) in result.messages[0] or "not objects" in result.messages[0]
    with pytest.raises(SourceError):
        list(adapter.read())
    report = await run_adapter(AmedasAdapter(data=json.dumps(doc).encode()), RecordingSink(),
                               StateStore(tmp_path))
    assert report.status == "failed" and report.quarantined == 0 and report.reconciles()
