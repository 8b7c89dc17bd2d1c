"""NGSI v2 -> NGSI-LD translation (hub.federation.v2_translate): pure, no server."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hub.federation.sources import SourceError, SourceTarget
from hub.federation.v2 import is_ngsi_v2, service_headers
from hub.federation.v2_translate import (
    V2Names,
    attribute_to_ld,
    entity_to_ld,
    ld_entity_id,
    local_q,
    plan_query,
    translate_q,
    v2_id_candidates,
)
from hub.query.qlang_eval import evaluate_q
from tests.federation_v2.fixtures import GAUGE, KIOSK, ROOM, SHELF, STORE

D = "https://uri.etsi.org/ngsi-ld/default-context/"
NAMES = V2Names()


def _ld(name: str, raw: Any) -> dict[str, Any]:
    instance = attribute_to_ld(name, raw, NAMES)
    assert instance is not None
    return instance


# -- ids -----------------------------------------------------------------------------------

def test_plain_ids_become_urns_and_uris_stay() -> None:
    assert ld_entity_id("Room1", "Room") == "urn:ngsi-ld:Room:Room1"
    assert ld_entity_id("urn:ngsi-ld:Store:001", "Store") == "urn:ngsi-ld:Store:001"
    assert ld_entity_id("https://city.example/e/1", "T") == "https://city.example/e/1"


@pytest.mark.parametrize(("v2_id", "v2_type"), [
    ("Room1", "Room"), ("gauge-17", "RainGauge"), ("urn:ngsi-ld:Store:001", "Store"),
    ("a_b.c", "T_1"),
])
def test_id_round_trip(v2_id: str, v2_type: str) -> None:
    """Every v2 (id, type) is among the candidates its NGSI-LD id maps back to."""
    candidates = v2_id_candidates(ld_entity_id(v2_id, v2_type))
    assert any(c == v2_id and t in (None, v2_type) for c, t in candidates), candidates


def test_id_candidates_literal_first_then_short() -> None:
    assert v2_id_candidates("urn:ngsi-ld:Room:Room1") == [
        ("urn:ngsi-ld:Room:Room1", None), ("Room1", "Room")]
    # an id with characters Orion forbids cannot be held by the source
    assert v2_id_candidates("urn:ngsi-ld:Room:a b") == []
    assert v2_id_candidates("https://x.example/a?b") == []
    # the short part being itself a URI would have been kept as it was
    assert v2_id_candidates("urn:ngsi-ld:T:urn:x") == [("urn:ngsi-ld:T:urn:x", None)]


# -- names ---------------------------------------------------------------------------------

def test_names_default_vocabulary_and_uris() -> None:
    assert NAMES.iri("temperature") == D + "temperature"
    assert NAMES.iri("https://schema.org/name") == "https://schema.org/name"
    assert NAMES.name(D + "temperature") == "temperature"
    assert NAMES.iri("schema:name") == "schema:name"
    assert NAMES.name("schema:name") == "schema:name"
    # '/' and '#' are not in v2 names: no attribute at the source has these IRIs
    assert NAMES.name("https://smartdatamodels.org/x") is None
    assert NAMES.name("urn:x#b") is None
    assert NAMES.name(D + "a b") is None


def test_names_term_table_both_ways() -> None:
    sdm = "https://smartdatamodels.org/dataModel.Environment/precipitation"
    names = V2Names({"precipitation": sdm})
    assert names.iri("precipitation") == sdm
    assert names.name(sdm) == "precipitation"
    # the default-vocabulary IRI of a mapped name is not what that name translates to
    assert names.name(D + "precipitation") is None


# -- attributes ----------------------------------------------------------------------------

def test_room_numbers_kept_with_empty_metadata() -> None:
    assert entity_to_ld(ROOM, NAMES) == {
        "id": "urn:ngsi-ld:Room:Room1",
        "type": [D + "Room"],
        D + "pressure": {"type": "Property", "value": 720},
        D + "temperature": {"type": "Property", "value": 23.5},
    }


def test_metadata_become_sub_properties_and_geo_json_a_geoproperty() -> None:
    store = entity_to_ld(STORE, NAMES)
    assert store["id"] == "urn:ngsi-ld:Store:001"
    assert store[D + "address"] == {
        "type": "Property", "value": STORE["address"]["value"],
        D + "verified": {"type": "Property", "value": True}}
    assert store[D + "location"] == {
        "type": "GeoProperty", "value": {"type": "Point", "coordinates": [139.7671, 35.6812]}}
    assert store[D + "name"] == {"type": "Property", "value": "Marunouchi Store"}


def test_time_instant_becomes_observed_at_and_unit_code_unit_code() -> None:
    gauge = entity_to_ld(GAUGE, NAMES)
    assert gauge["id"] == "urn:ngsi-ld:RainGauge:gauge-17"
    assert gauge[D + "precipitation"] == {
        "type": "Property", "value": 12.5, "observedAt": "2026-06-01T09:00:00.000Z",
        "unitCode": "MMT", D + "accuracy": {"type": "Property", "value": 0.5}}
    assert gauge[D + "dateObserved"] == {
        "type": "Property", "value": {"@type": "DateTime", "@value": "2026-06-01T09:00:00.000Z"}}


def test_observed_at_normalised_to_utc() -> None:
    raw: dict[str, Any] = {"type": "Number", "value": 1,
           "metadata": {"TimeInstant": {"type": "DateTime", "value": "2026-06-01T18:00:00+09:00"}}}
    assert _ld("x", raw)["observedAt"] == "2026-06-01T09:00:00.000Z"
    # not a date-time: kept as a sub-property instead of a broken observedAt
    raw["metadata"]["TimeInstant"]["value"] = "yesterday"
    inst = _ld("x", raw)
    assert "observedAt" not in inst
    assert inst[D + "TimeInstant"] == {
        "type": "Property", "value": {"@type": "DateTime", "@value": "yesterday"}}


def test_relationships() -> None:
    shelf = entity_to_ld(SHELF, NAMES)
    assert shelf[D + "refStore"] == {"type": "Relationship", "object": "urn:ngsi-ld:Store:001"}
    # refX holding a plain id names an X
    kiosk = entity_to_ld(KIOSK, NAMES)
    assert kiosk[D + "refStore"] == {"type": "Relationship", "object": "urn:ngsi-ld:Store:001"}
    many = attribute_to_ld("refDevice", {"type": "Relationship", "value": ["d1", "urn:x:2"]},
                           NAMES)
    assert many == {"type": "ListRelationship", "objectList": [
        {"object": "urn:ngsi-ld:Device:d1"}, {"object": "urn:x:2"}]}
    # a Relationship whose target cannot be named stays a Property, never a broken object
    assert attribute_to_ld("owner", {"type": "Relationship", "value": "bob"}, NAMES) == {
        "type": "Property", "value": "bob"}
    # not ref-named, not typed Relationship: plain text
    assert attribute_to_ld("reference", {"type": "Text", "value": "x1"}, NAMES) == {
        "type": "Property", "value": "x1"}


def test_geo_simple_forms() -> None:
    kiosk = entity_to_ld(KIOSK, NAMES)
    assert kiosk[D + "location"] == {
        "type": "GeoProperty", "value": {"type": "Point", "coordinates": [139.6917, 35.6895]}}
    box = attribute_to_ld("area", {"type": "geo:box", "value": ["35.0, 139.0", "36.0, 140.0"]},
                          NAMES)
    assert box == {"type": "GeoProperty", "value": {"type": "Polygon", "coordinates": [[
        [139.0, 35.0], [140.0, 35.0], [140.0, 36.0], [139.0, 36.0], [139.0, 35.0]]]}}
    line = _ld("road", {"type": "geo:line", "value": ["35, 139", "36, 140"]})
    assert line["value"] == {"type": "LineString", "coordinates": [[139.0, 35.0], [140.0, 36.0]]}
    # latitude out of range: not a geometry; the value is kept as it came
    bad = attribute_to_ld("location", {"type": "geo:point", "value": "95, 10"}, NAMES)
    assert bad == {"type": "Property", "value": "95, 10"}


def test_dates_nulls_and_system_metadata() -> None:
    for v2_type in ("DateTime", "Date", "Time"):
        inst = attribute_to_ld("d", {"type": v2_type, "value": "2026-01-01"}, NAMES)
        assert inst == {"type": "Property", "value": {"@type": v2_type, "@value": "2026-01-01"}}
    assert attribute_to_ld("gone", {"type": "None", "value": None}, NAMES) is None
    inst = attribute_to_ld("t", {"type": "Number", "value": 1, "metadata": {
        "dateCreated": {"type": "DateTime", "value": "2026-01-01T00:00:00Z"},
        "note": {"type": "Text", "value": None}}}, NAMES)
    assert inst == {"type": "Property", "value": 1}
    structured = {"a": [1, {"b": None}]}
    assert attribute_to_ld("s", {"type": "StructuredValue", "value": structured}, NAMES) == {
        "type": "Property", "value": structured}


def test_entity_type_default_and_bad_entities() -> None:
    assert entity_to_ld({"id": "x"}, NAMES)["type"] == [D + "Thing"]
    from hub.federation.v2_translate import V2FormatError
    bad: Any
    for bad in ([], {"type": "T"}, {"id": 5, "type": "T"}):
        with pytest.raises(V2FormatError):
            entity_to_ld(bad, NAMES)


def test_translation_does_not_change_its_input() -> None:
    before = copy.deepcopy(GAUGE)
    entity_to_ld(GAUGE, NAMES)
    assert before == GAUGE


# -- q -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("q", "v2", "complete"), [
    (f"{D}temperature>20", ["temperature>20"], True),
    (f"{D}temperature>=20;{D}name==\"Marunouchi\"",
     ["temperature>=20", "name=='Marunouchi'"], True),
    (f"{D}temperature==10..20", ["temperature==10..20"], True),
    (f"{D}status==\"ok\",\"warn\"", ["status=='ok','warn'"], True),
    (f"{D}active==true", ["active==true"], True),
    (f"{D}dateObserved>2026-01-01T00:00:00Z", ["dateObserved>2026-01-01T00:00:00Z"], True),
    (f"{D}temperature", ["temperature"], True),
    (f"!{D}temperature", ["!temperature"], True),
    # forms v2 cannot say the same way: left to the hub
    (f"{D}a>1|{D}b<2", [], False),
    (f"({D}a>1;{D}b<2)", [], False),
    (f"{D}name~=\"^Mar\"", [], False),
    (f"{D}refStore==\"urn:ngsi-ld:Store:001\"", [], False),
    (f"{D}refStore==urn:ngsi-ld:Store:001", [], False),
    (f"{D}temperature.observedAt>2026-01-01T00:00:00Z", [], False),
    (f"{D}address[postalCode]==\"100\"", [], False),
    (f"{D}name==\"it's\"", [], False),
    ("https://other.example/x#y>1", [], False),
    # a conjunction is pushed down term by term
    (f"{D}temperature>20;{D}name~=\"x\"", ["temperature>20"], False),
])
def test_translate_q(q: str, v2: list[str], complete: bool) -> None:
    assert translate_q(q, NAMES) == (v2, complete)


def test_local_q_reads_iri_names_and_sub_attributes() -> None:
    gauge = entity_to_ld(GAUGE, NAMES)
    stored = {"id": gauge["id"], "types": gauge["type"],
              "attrs": {k: [v] for k, v in gauge.items() if k not in ("id", "type")}}

    def holds(q: str) -> bool:
        expr, expand = local_q(q, NAMES)
        return evaluate_q(expr, stored, expand)

    assert holds(f"{D}precipitation>10")
    assert not holds(f"{D}precipitation>20")
    assert holds(f"{D}precipitation>20|{D}status==\"ok\"")
    assert holds(f"{D}precipitation.{D}accuracy==0.5")
    assert holds(f"{D}precipitation.observedAt>=2026-06-01T00:00:00Z")
    assert holds(f"{D}dateObserved<2027-01-01T00:00:00Z")
    assert holds(f"!{D}missing;({D}status==\"ok\")")


@pytest.mark.parametrize(("compact", "expected"), [
    ("precipitation.accuracy==0.5", True),
    ("precipitation.accuracy>1", False),
    ("precipitation.observedAt>=2026-06-01T00:00:00Z;status==\"ok\"", True),
    ("precipitation.unitCode==\"MMT\"", True),
    ("(status==\"bad\"|precipitation<13);!missing", True),
    ("createdAt>2020-01-01T00:00:00Z", False),  # not asked from Orion: nothing matches
])
def test_q_as_the_engine_renames_it(compact: str, expected: bool) -> None:
    """The engine expands only the head of each path (hub.federation.qnames): sub-attribute
    names stay compact and are named the way this source names metadata."""
    from hub.federation.qnames import map_q_names

    q = map_q_names(compact, lambda n: n if n in ("createdAt", "modifiedAt") else D + n)
    gauge = entity_to_ld(GAUGE, NAMES)
    plan = plan_query(types=(), ids=(), id_pattern=None, attrs=(), q=q, names=NAMES)
    assert plan.scan  # sub-attribute paths, "|" and createdAt have no v2 form
    assert plan.keep(gauge) is expected


def test_plan_pushes_down_what_v2_can_say() -> None:
    plan = plan_query(types=(D + "Room",), ids=(), id_pattern=None, attrs=(D + "temperature",),
                      q=f"{D}temperature>20", names=NAMES)
    assert not plan.scan and not plan.empty
    assert plan.params == {"type": "Room", "q": "temperature;temperature>20",
                           "attrs": "temperature"}


def test_plan_scans_for_the_rest() -> None:
    plan = plan_query(types=(D + "Room",), ids=("urn:ngsi-ld:Room:Room1",), id_pattern=None,
                      attrs=(D + "a", D + "b"), q=f"{D}a>1|{D}b>1", names=NAMES)
    assert plan.scan
    assert plan.params == {"type": "Room", "id": "Room1,urn:ngsi-ld:Room:Room1"}
    assert plan_query(types=(), ids=(), id_pattern="^urn:ngsi-ld:Room:", attrs=(), q=None,
                      names=NAMES).scan


def test_plan_empty_when_nothing_can_match() -> None:
    for kwargs in ({"types": ("https://x.example/T#1",)}, {"ids": ("urn:x:a b",)},
                   {"attrs": ("https://x.example/a#b",)}):
        args = {"types": (), "ids": (), "id_pattern": None, "attrs": (), "q": None} | kwargs
        assert plan_query(names=NAMES, **args).empty  # type: ignore[arg-type]


# -- registrations, tenants ----------------------------------------------------------------

def test_is_ngsi_v2() -> None:
    assert is_ngsi_v2({"contextSourceInfo": [{"key": "ngsi-version", "value": "v2"}]})
    assert is_ngsi_v2({"contextSourceInfo": [{"key": "Authorization", "value": "x"},
                                             {"key": "NGSI-Version", "value": "V2"}]})
    assert is_ngsi_v2({"https://uri.etsi.org/ngsi-ld/contextSourceInfo": [
        {"https://uri.etsi.org/ngsi-ld/key": "ngsi-version",
         "https://uri.etsi.org/ngsi-ld/hasValue": [{"@value": "v2"}]}]})
    assert not is_ngsi_v2({"contextSourceInfo": [{"key": "ngsi-version", "value": "ld"}]})
    assert not is_ngsi_v2({"contextSourceInfo": [{"key": "jsonldContext", "value": "v2"}]})
    assert not is_ngsi_v2({"endpoint": "http://orion:1026"})
    assert not is_ngsi_v2({"contextSourceInfo": "v2"})


def _target(tenant: str | None, headers: dict[str, str] | None = None) -> SourceTarget:
    return SourceTarget("http://orion:1026", headers or {}, tenant, 1.0)


def test_tenant_becomes_fiware_service_and_path_defaults_to_root() -> None:
    assert service_headers(_target("CityA")) == {
        "Fiware-Service": "citya", "Fiware-ServicePath": "/", "Accept": "application/json"}
    assert "Fiware-Service" not in service_headers(_target(None))
    headers = service_headers(_target("city_a", {
        "fiware-servicepath": "/water/#, /roads", "Authorization": "Bearer t",
        "ngsi-version": "v2"}))
    assert headers == {"Authorization": "Bearer t", "Fiware-Service": "city_a",
                       "Fiware-ServicePath": "/water/#,/roads", "Accept": "application/json"}
    # the registration's own Fiware-Service wins over the tenant mapping
    assert service_headers(_target("x", {"Fiware-Service": "other"}))["Fiware-Service"] == "other"


@pytest.mark.parametrize(("tenant", "headers"), [
    ("city-a", {}), ("a" * 51, {}), (None, {"Fiware-ServicePath": "water"}),
    (None, {"Fiware-ServicePath": "/a b"}), (None, {"Fiware-ServicePath": ",".join(["/a"] * 11)}),
])
def test_names_orion_cannot_take_are_refused(tenant: str | None,
                                             headers: dict[str, str]) -> None:
    """Never a call that Orion would answer from another (the default) service."""
    with pytest.raises(SourceError):
        service_headers(_target(tenant, headers))
