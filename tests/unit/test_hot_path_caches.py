"""The caches and fast paths of the read path (issue #13, hub CPU per request): each one
answers exactly what the work it saves would have answered, is bounded, and keeps nothing
of one request that another could change or see."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hub.api.common import _accepted, _context_links
from hub.errors import BadRequestData, InvalidRequest
from hub.jsonld.active import ActiveContext, TermDefinition
from hub.jsonld.process import core_active_context
from hub.ngsild import checks
from hub.ngsild.checks import utc_iso
from hub.ngsild.render import RenderOptions, render_entity
from hub.query import qlang, qlang_sql, typeexpr
from hub.query.qlang import parse_q
from hub.query.qlang_sql import compile_q, compile_q_shared
from hub.query.typeexpr import parse_types_expr

CORE = core_active_context()
REL = "http://www.w3.org/ns/json-ld#context"


def _reference_iso(ts: datetime) -> str:
    """utc_iso as it was before the fast path: the text every response carried."""
    if ts.utcoffset() is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- instants ---------------------------------------------------------------------------

@pytest.mark.parametrize("ts", [
    datetime(2026, 12, 6, 9, 49, 32, 137557, tzinfo=UTC),
    datetime(2026, 12, 6, 9, 49, 32, tzinfo=UTC),  # no microseconds: still six digits
    datetime(1000, 1, 1, tzinfo=UTC),
    datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC),  # strftime's unpadded year kept
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2020, 1, 1, 9, tzinfo=timezone(timedelta(hours=9))),
    datetime(2020, 1, 1, 9, 30),  # naive: taken as UTC, as before
])
def test_utc_iso_is_the_text_it_always_was(ts: datetime) -> None:
    assert utc_iso(ts) == _reference_iso(ts)
    assert utc_iso(ts) == _reference_iso(ts)  # the kept text, second time round


def test_utc_iso_equal_instants_in_other_zones_give_the_utc_text() -> None:
    utc = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
    tokyo = utc.astimezone(timezone(timedelta(hours=9)))
    assert utc == tokyo
    assert utc_iso(utc) == utc_iso(tokyo) == "2026-03-01T00:00:00.000000Z"


def test_utc_iso_ambiguous_local_hours_are_not_confused() -> None:
    """Two instants an hour apart that compare equal as local times (a DST fold): only
    UTC instants are kept, so each gets its own text."""
    zone = ZoneInfo("America/New_York")
    first = datetime(2025, 11, 2, 1, 30, tzinfo=zone, fold=0)
    second = datetime(2025, 11, 2, 1, 30, tzinfo=zone, fold=1)
    assert utc_iso(first) == "2025-11-02T05:30:00.000000Z"
    assert utc_iso(second) == "2025-11-02T06:30:00.000000Z"


def test_utc_iso_cache_is_bounded() -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(3000):
        assert utc_iso(base + timedelta(microseconds=i)) == _reference_iso(
            base + timedelta(microseconds=i))
    info = checks._utc_text.cache_info()
    assert info.maxsize is not None and info.currsize <= info.maxsize


# -- q and type expressions -------------------------------------------------------------

def test_parse_q_kept_per_text_and_equal_to_a_fresh_parse() -> None:
    text = "intensity>=98990;occupancy<5"
    first = parse_q(text)
    assert parse_q(text) is first  # the same immutable AST
    assert first == qlang._Parser(text).parse()


def test_parse_q_errors_are_raised_every_time() -> None:
    for _ in range(2):
        with pytest.raises(InvalidRequest):
            parse_q("intensity>>3")
        with pytest.raises(BadRequestData):
            parse_q("createdAt>5")


def test_parse_q_long_texts_parse_but_are_not_kept() -> None:
    text = ";".join(f"a{i}>={i}" for i in range(200))
    assert len(text) > qlang.CACHED_Q_LENGTH
    before = qlang._parse_cached.cache_info().currsize
    assert parse_q(text) == qlang._Parser(text).parse()
    assert qlang._parse_cached.cache_info().currsize == before


def test_type_expressions_kept_per_text() -> None:
    assert parse_types_expr("A,B") is parse_types_expr("A,B")
    for _ in range(2):
        with pytest.raises(BadRequestData):
            parse_types_expr("A,")
    long = "|".join(f"T{i}" for i in range(100))
    assert len(long) > typeexpr.CACHED_TEXT
    assert parse_types_expr(long) == typeexpr._parse(long)


def _context(term_iri: str) -> ActiveContext:
    return ActiveContext({"intensity": TermDefinition(term_iri)}, {}, "https://v.example/")


@pytest.mark.parametrize("q", [
    "intensity>=98990", "intensity>=98990.5;occupancy>=50000", "laneId==\"L1\",\"L2\"",
    "intensity==1..5|name~=\"^a\"", "!gone;a.observedAt>=2020-01-01T00:00:00Z",
    "createdAt>=2020-01-01T00:00:00Z", "a[b.c]==7",
])
def test_compile_q_shared_equals_compile_q(q: str) -> None:
    expr = parse_q(q)
    fresh = compile_q(expr, CORE.expand, alias="e", first_param=3, schema="t_one")
    for _ in range(2):
        shared = compile_q_shared(expr, CORE, alias="e", first_param=3, schema="t_one")
        assert (shared.sql, shared.params, shared.drivers) == (
            fresh.sql, fresh.params, fresh.drivers)


def test_compile_q_shared_hands_out_copies() -> None:
    expr = parse_q('laneId=="L1","L2";intensity==1,2,3')
    first = compile_q_shared(expr, CORE, first_param=1, schema="t_one")
    first.params.append("mutated")
    first.drivers.clear()
    for p in first.params:
        if isinstance(p, list):
            p.append("mutated")
    again = compile_q_shared(expr, CORE, first_param=1, schema="t_one")
    assert "mutated" not in again.params and again.drivers
    assert all("mutated" not in p for p in again.params if isinstance(p, list))


def test_compile_q_shared_keyed_by_tenant_context_and_numbering() -> None:
    expr = parse_q("intensity>=10")
    one = compile_q_shared(expr, CORE, first_param=1, schema="t_one")
    other_tenant = compile_q_shared(expr, CORE, first_param=1, schema="t_two")
    assert "t_one." in one.sql and "t_two." in other_tenant.sql and "t_one" not in (
        other_tenant.sql + " ".join(other_tenant.drivers))
    moved = compile_q_shared(expr, CORE, first_param=4, schema="t_one")
    assert "$4" in moved.sql and "$1" not in moved.sql
    a = compile_q_shared(expr, _context("https://a.example/i"), schema="t_one")
    b = compile_q_shared(expr, _context("https://b.example/i"), schema="t_one")
    assert "https://a.example/i" in a.params and "https://b.example/i" in b.params


def test_compile_q_shared_follows_the_index_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    expr = parse_q("intensity>=10")
    with_index = compile_q_shared(expr, CORE, schema="t_one")
    monkeypatch.setattr(qlang_sql, "USE_VALUE_INDEX", False)
    without = compile_q_shared(expr, CORE, schema="t_one")
    assert "entity_values" in with_index.sql and "entity_values" not in without.sql
    assert without.sql == compile_q(expr, CORE.expand, schema="t_one").sql


def test_q_caches_are_bounded() -> None:
    for cached in (qlang._parse_cached, qlang_sql._compiled, qlang_sql._key,
                   qlang_sql._accessor, typeexpr._parse_cached):
        assert cached.cache_info().maxsize is not None


# -- the Link header --------------------------------------------------------------------

def test_context_links_parse_as_before() -> None:
    url = "https://ex.org/ctx.jsonld"
    assert _context_links(f'<{url}>; rel="{REL}"; type="application/ld+json"') == (url,)
    assert _context_links(f"<{url}>; rel={REL}") == (url,)
    assert _context_links(f'< {url} >; rel="{REL}"') == (url,)
    assert _context_links(f'<{url}>; rel="next"') == ()
    two = f'<{url}>; rel="{REL}", <https://ex.org/b>; rel="{REL}"'
    assert _context_links(two) == (url, "https://ex.org/b")
    assert _context_links("garbage") == ()
    assert _context_links.cache_info().maxsize is not None


# -- Accept ---------------------------------------------------------------------------

def test_accept_decided_per_value() -> None:
    offered = ("application/json", "application/ld+json", "application/geo+json")
    assert _accepted("application/ld+json", offered) == "application/ld+json"
    assert _accepted("*/*", offered) == "application/json"
    assert _accepted("application/json;q=0.5, application/ld+json", offered) == (
        "application/ld+json")
    assert _accepted("application/json, application/ld+json", offered) == (
        "application/json")  # equal q: the first listed
    assert _accepted("text/html", offered) is None  # NotAcceptable, raised by the caller
    assert _accepted("application/json;q=0", offered) is None
    assert _accepted("application/json", ("application/ld+json",)) is None  # own key
    assert _accepted.cache_info().maxsize is not None


# -- rendering --------------------------------------------------------------------------

X = "https://ex.org/"


class Ctx:
    def compact(self, iri: str) -> str:
        return iri.removeprefix(X)


def _entity() -> dict[str, Any]:
    return {
        "id": "urn:x:1", "types": [X + "A", X + "B"], "scopes": ["/a"], "createdAt": "T0",
        "modifiedAt": "T1",
        "attrs": {
            X + "one": [{"type": "Property", "value": 1, "createdAt": "T0",
                         "modifiedAt": "T1", X + "sub": {"type": "Property", "value": 2}}],
            X + "two": [{"type": "Property", "value": 1, "datasetId": "urn:d:1"},
                        {"type": "Property", "value": 2}],
            X + "rel": [{"type": "Relationship", "object": "urn:x:2"}],
            X + "kind": [{"type": "VocabProperty", "vocab": X + "Big"}],
        },
    }


def test_render_single_and_several_instances() -> None:
    out = render_entity(_entity(), Ctx(), RenderOptions())
    assert out == {
        "id": "urn:x:1", "type": ["A", "B"], "scope": "/a",
        "one": {"type": "Property", "value": 1, "sub": {"type": "Property", "value": 2}},
        "two": [{"type": "Property", "value": 1, "datasetId": "urn:d:1"},
                {"type": "Property", "value": 2}],
        "rel": {"type": "Relationship", "object": "urn:x:2"},
        "kind": {"type": "VocabProperty", "vocab": "Big"},
    }
    assert list(out["one"]) == ["type", "value", "sub"]  # member order kept
    out = render_entity(_entity(), Ctx(), RenderOptions(sys_attrs=True))
    assert list(out["one"]) == ["type", "value", "createdAt", "modifiedAt", "sub"]


def test_render_inline_join_on_a_single_relationship() -> None:
    linked = {"urn:x:2": {"id": "urn:x:2", "types": [X + "T"], "scopes": None,
                          "createdAt": "T", "modifiedAt": "T", "attrs": {}}}
    out = render_entity(_entity(), Ctx(), RenderOptions(join="inline"), linked)
    assert out["rel"] == {"type": "Relationship", "object": "urn:x:2",
                          "entity": {"id": "urn:x:2", "type": "T"}}


def test_with_projection_without_pick_or_omit() -> None:
    opts = RenderOptions(fmt="concise")
    assert opts.with_projection(None, None) is opts  # nothing to change
    nested = RenderOptions(link_pick={X + "rel": {"id": None}})
    # nested projections are dropped one level down, as before
    assert nested.with_projection(None, None).link_pick == {}
    picked = opts.with_projection({"id": None, X + "one": None}, None)
    assert picked.pick_core == frozenset({"id"}) and picked.attrs == frozenset({X + "one"})
