"""Small helpers for API tests: JSON headers and problem-details assertions."""

from __future__ import annotations

from typing import Any

from aiohttp import ClientResponse

JSON = {"Content-Type": "application/json"}
ERR = "https://uri.etsi.org/ngsi-ld/errors/"


async def assert_problem(resp: ClientResponse, status: int, kind: str) -> dict[str, Any]:
    body = await resp.json(content_type=None)
    assert resp.status == status, body
    assert resp.content_type == "application/json"
    assert body["type"] == ERR + kind, body
    assert body["status"] == status
    assert isinstance(body.get("title"), str) and isinstance(body.get("detail"), str)
    return body


def gauge(n: int, mm: float = 1.0, lon: float = 138.19, lat: float = 36.65) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:WeatherObserved:g{n}",
        "type": "WeatherObserved",
        "precipitation": {"type": "Property", "value": mm, "unitCode": "MMT"},
        "location": {"type": "GeoProperty",
                     "value": {"type": "Point", "coordinates": [lon, lat]}},
    }
