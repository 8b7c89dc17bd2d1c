"""Bad input never answers 500 (issue #12, class 7): every malformed attribute shape, sent to
every write endpoint, answers 400 BadRequestData problem details and stores nothing.

The shapes are the ones that used to reach set and dict look-ups (a ``type`` that is a list
or an object is unhashable) or were stored unchecked, at every nesting level: the attribute,
its sub-attributes, an instance of a multi-instance attribute. A Hypothesis test then throws
random JSON at the same endpoints and asserts only that the hub never fails (status < 500).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.authz_world import BASE, JSON, World
from tests.security.conftest import Digest

ERR = "https://uri.etsi.org/ngsi-ld/errors/"
EID = "urn:ngsi-ld:Gauge:nagano-0"  # stored by the world, owned by Nagano
NEW = "urn:ngsi-ld:Gauge:nagano-99"
TID = "urn:ngsi-ld:Gauge:nagano-t"  # a temporal entity the set-up writes


def _nest(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _nest_subs(depth: int) -> dict[str, Any]:
    inst: dict[str, Any] = {"type": "Property", "value": 1}
    for _ in range(depth):
        inst = {"type": "Property", "value": 1, "sub": inst}
    return inst


def _nest_collections(depth: int) -> dict[str, Any]:
    geo: dict[str, Any] = {"type": "Point", "coordinates": [138.1, 36.6]}
    for _ in range(depth):
        geo = {"type": "GeometryCollection", "geometries": [geo]}
    return geo


#: name -> a malformed value of the attribute ``rain``
SHAPES: dict[str, Any] = {
    "type list": {"type": ["Property"], "value": 1},
    "type object": {"type": {"a": 1}, "value": 1},
    "type number": {"type": 5, "value": 1},
    "type null": {"type": None, "value": 1},
    "type boolean": {"type": True, "value": 1},
    "type list alone": {"type": ["Property", "Relationship"]},
    "relationship object number": {"type": "Relationship", "object": 5},
    "relationship object list of objects": {"type": "Relationship", "object": [{"a": 1}]},
    "languageMap list": {"type": "LanguageProperty", "languageMap": ["ja"]},
    "valueList object": {"type": "ListProperty", "valueList": {"a": 1}},
    "objectList number": {"type": "ListRelationship", "objectList": 5},
    "vocab number": {"type": "VocabProperty", "vocab": 5},
    "geo value type list": {"type": "GeoProperty",
                            "value": {"type": ["Point"], "coordinates": [1, 2]}},
    "geo coordinates object": {"type": "GeoProperty",
                               "value": {"type": "Point", "coordinates": {"a": 1}}},
    "datasetId number": {"type": "Property", "value": 1, "datasetId": 5},
    "datasetId object": {"type": "Property", "value": 1, "datasetId": {"a": 1}},
    "observedAt number": {"type": "Property", "value": 1, "observedAt": 5},
    "observedAt list": {"type": "Property", "value": 1, "observedAt": ["2024-01-01T00:00:00Z"]},
    "unitCode number": {"type": "Property", "value": 1, "unitCode": 5},
    "sub-attribute type list": {"type": "Property", "value": 1,
                                "accuracy": {"type": ["Property"], "value": 1}},
    "sub-sub-attribute type object": {
        "type": "Property", "value": 1,
        "accuracy": {"type": "Property", "value": 1,
                     "method": {"type": {"x": 1}, "value": 1}}},
    "sub-attribute observedAt object": {
        "type": "Property", "value": 1,
        "accuracy": {"type": "Property", "value": 1, "observedAt": {"a": 1}}},
    "instance list with type list": [
        {"type": "Property", "value": 1, "datasetId": "urn:ngsi-ld:Dataset:a"},
        {"type": ["Property"], "value": 2}],
    "value null": {"type": "Property", "value": None},
    "value nested 100 deep": {"type": "Property", "value": _nest(100)},
    "json nested 100 deep": {"type": "JsonProperty", "json": _nest(100)},
    "sub-attributes nested 40 deep": _nest_subs(40),
    "geometry collections nested 10 deep": {"type": "GeoProperty",
                                            "value": _nest_collections(10)},
}


async def _setup_temporal(w: World) -> str:
    """A temporal entity of Nagano's with one instance; its instanceId."""
    body = {"id": TID, "type": "Gauge",
            "rain": {"type": "Property", "value": 1.0, "observedAt": "2024-01-01T00:00:00Z"}}
    resp = await w.http.post(BASE + "/temporal/entities", json=body,
                             headers=w.auth("nagano", **JSON))
    assert resp.status == 201, await resp.text()
    resp = await w.http.get(BASE + f"/temporal/entities/{TID}", headers=w.auth("nagano"))
    assert resp.status == 200, await resp.text()
    rain = (await resp.json())["rain"]
    return str((rain[0] if isinstance(rain, list) else rain)["instanceId"])


def _calls(bad: Any, iid: str) -> list[tuple[str, str, Any, bool]]:
    """(method, path, body, is_batch) of every write endpoint that takes an attribute."""
    e, t = quote(EID, safe=":"), quote(TID, safe=":")
    entity = {"id": NEW, "type": "Gauge", "rain": bad}
    existing = {"id": EID, "type": "Gauge", "rain": bad}
    fragment = bad[-1] if isinstance(bad, list) and bad else bad
    return [
        ("POST", "/entities", entity, False),
        ("PUT", f"/entities/{e}", {"type": "Gauge", "rain": bad}, False),
        ("PATCH", f"/entities/{e}", {"rain": bad}, False),
        ("POST", f"/entities/{e}/attrs", {"rain": bad}, False),
        ("PATCH", f"/entities/{e}/attrs", {"rain": bad}, False),
        ("PATCH", f"/entities/{e}/attrs/rain", fragment, False),
        ("PUT", f"/entities/{e}/attrs/rain", fragment, False),
        ("POST", "/entityOperations/create", [entity], True),
        ("POST", "/entityOperations/upsert", [existing], True),
        ("POST", "/entityOperations/update", [existing], True),
        ("POST", "/entityOperations/merge", [existing], True),
        ("POST", "/temporal/entities", {"id": TID, "type": "Gauge", "rain": bad}, False),
        ("POST", f"/temporal/entities/{t}/attrs", {"rain": bad}, False),
        ("PATCH", f"/temporal/entities/{t}/attrs/rain/{quote(iid, safe=':')}",
         {"rain": fragment}, False),
    ]


@pytest.mark.parametrize("shape", sorted(SHAPES))
async def test_malformed_attribute_is_400_everywhere(world: World, shape: str) -> None:
    iid = await _setup_temporal(world)
    digest = Digest(world.url)
    await digest.seal()
    for method, path, body, is_batch in _calls(SHAPES[shape], iid):
        resp = await world.http.request(method, BASE + path, json=body,
                                        headers=world.auth("nagano", **JSON))
        answer = await resp.json(content_type=None)
        where = f"{method} {path}: {answer}"
        if is_batch:
            assert resp.status == 207, where
            assert answer["success"] == [], where
            problem = answer["errors"][0]["error"]
        else:
            assert resp.status == 400, where
            assert resp.content_type == "application/json", where
            problem = answer
        assert problem["type"] == ERR + "BadRequestData", where
        assert problem["status"] == 400 and isinstance(problem["detail"], str), where
    await digest.check()


async def test_wellformed_control_is_accepted(world: World) -> None:
    """The control: the same endpoints accept the well-formed attribute, so the 400s above
    come from the malformed member and not from the request around it."""
    good = {"type": "Property", "value": 3.0,
            "accuracy": {"type": "Property", "value": 0.1}}
    e = quote(EID, safe=":")
    resp = await world.http.post(BASE + f"/entities/{e}/attrs", json={"rain": good},
                                 headers=world.auth("nagano", **JSON))
    assert resp.status == 204, await resp.text()
    resp = await world.http.get(BASE + f"/entities/{e}", headers=world.auth("nagano"))
    assert (await resp.json())["rain"]["accuracy"]["value"] == 0.1


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False,
                                                          allow_infinity=False)
    | st.text(max_size=8) | st.sampled_from(["Property", "Relationship", "GeoProperty",
                                             "urn:ngsi-ld:null", "2024-01-01T00:00:00Z"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["type", "value", "object", "datasetId", "observedAt", "unitCode",
                         "languageMap", "vocab", "json", "valueList", "objectList",
                         "coordinates", "accuracy", "id", "@context"]), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad=_JSON)
async def test_random_json_never_500(world: World, bad: Any) -> None:
    """Random JSON as an attribute, on every write endpoint: never a server error."""
    for method, path, body, _ in _calls(bad, "urn:ngsi-ld:attribute:instance:x"):
        resp = await world.http.request(method, BASE + path, json=body,
                                        headers=world.auth("nagano", **JSON))
        assert resp.status < 500, f"{method} {path} {body!r}: {await resp.text()}"
