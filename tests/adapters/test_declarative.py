"""Declarative mappings beyond the worked example: JSON records, units, bad mapping files."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters.declarative import DeclarativeMapping
from adapters.sdk import Emit, Quarantine

BASE: dict[str, Any] = {
    "adapter": {"id": "tateshina-levels", "contract_type": "WaterObserved"},
    "source": {"format": "json", "records": "data.items", "encoding": "utf-8"},
    "time": {"date_column": "date", "date_format": "%Y-%m-%d", "hour_column": "hour"},
    "id": {"template": "tateshina-{code}-{time}"},
    "location": {"lat_column": "lat", "lon_column": "lon", "format": "dms", "datum": "tokyo"},
    "columns": [{"column": "code", "name": "code", "type": "key"},
                {"column": "level", "name": "level", "attribute": "waterLevel",
                 "unit": "MTR"}],
}


def _data(*items: Any) -> bytes:
    return json.dumps({"data": {"items": list(items)}}, ensure_ascii=False).encode()


def test_json_records_with_dms_tokyo_datum_and_missing_levels() -> None:
    m = DeclarativeMapping.from_dict(BASE)
    rec = {"code": "T1", "date": "2024-07-01", "hour": 24, "level": "1.25",
           "lat": "北緯 36度00分00秒", "lon": "東経 138度00分00秒"}
    outs = list(m.adapter(data=_data(rec, {**rec, "hour": 1, "level": "欠測"},
                                     "not an object")).read())
    first, second, third = outs
    assert isinstance(first, Emit) and isinstance(second, Emit)
    e = first.entities[0]
    assert e["id"] == "urn:ngsi-ld:WaterObserved:tateshina-T1-20240702T0000"
    assert e["waterLevel"]["value"] == 1.25 and e["quality"]["value"] == "normal"
    lon, lat = e["location"]["value"]["coordinates"]
    assert lat > 36.003 and lon < 138.0  # shifted from the Tokyo datum
    assert second.entities[0]["quality"]["value"] == "missing"
    assert "waterLevel" not in second.entities[0]
    assert isinstance(third, Quarantine) and "not an object" in third.reason


@pytest.mark.parametrize("change,message", [
    ({"adapter": {"id": "x", "contract_type": "Nonsense"}}, "Nonsense"),
    ({"id": {"template": "{nope}"}}, "unknown column"),
    ({"columns": [{"column": "level", "attribute": "waterLevel", "unit": "CMT"}]},
     "the contract's waterLevel is in MTR"),
    ({"columns": [{"column": "level", "attribute": "depth"}]}, "no attribute 'depth'"),
    ({"source": {"format": "xml"}}, "csv or json"),
])
def test_bad_mapping_files_are_refused_when_loaded(change: dict[str, Any], message: str) -> None:
    doc = {**BASE, **change}
    with pytest.raises((ValueError, KeyError), match=message):
        DeclarativeMapping.from_dict(doc)
