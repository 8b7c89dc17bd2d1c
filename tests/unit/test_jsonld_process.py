"""Context processing with an in-memory loader: remote and inline contexts, nulls, errors,
cycles, depth, and the per-request cache (JSON-LD 1.1 API §4.1-4.2, GS CIM 009 5.5.6)."""

from __future__ import annotations

from typing import Any

import pytest

from hub.errors import BadRequestData, LdContextNotAvailable
from hub.jsonld.active import ActiveContext
from hub.jsonld.core import CORE_CONTEXT_URL, CORE_CONTEXT_URLS, DEFAULT_VOCAB
from hub.jsonld.process import (
    MAX_DEPTH,
    MAX_REMOTE_CONTEXTS,
    ContextCache,
    build_active_context,
    core_active_context,
)
from tests.unit.jsonld_fakes import MemoryLoader

NGSI = "https://uri.etsi.org/ngsi-ld/"
EX = "https://example.org/"
DOCS: dict[str, Any] = {
    "http://ctx/a.jsonld": {
        "@context": {"ex": EX, "rain": "ex:rainfall", "Gauge": "https://example.org/Gauge"}
    },
    "http://ctx/nest.jsonld": {"@context": ["http://ctx/a.jsonld", {"temp": EX + "t"}]},
    "http://ctx/dir/rel.jsonld": {"@context": ["sib.jsonld", "../a.jsonld"]},
    "http://ctx/dir/sib.jsonld": {"@context": {"sib": EX + "sib"}},
    "http://ctx/loop.jsonld": {"@context": "http://ctx/loop.jsonld"},
    "http://ctx/ping.jsonld": {"@context": ["http://ctx/pong.jsonld"]},
    "http://ctx/pong.jsonld": {"@context": {"@import": "http://ctx/ping.jsonld"}},
    "http://ctx/diamond.jsonld": {"@context": ["http://ctx/a.jsonld", "http://ctx/nest.jsonld"]},
    "http://ctx/no-context.jsonld": {"note": "no context member here"},
    "http://ctx/number.jsonld": {"@context": 42},
    "http://ctx/list.jsonld": [{"@context": {}}],
    "http://ctx/with-core.jsonld": {"@context": [CORE_CONTEXT_URL, {"x": EX + "x"}]},
    "http://ctx/import-base.jsonld": {"@context": {"ex": EX, "imp": "ex:imported"}},
    "http://ctx/protected.jsonld": {"@context": {"@protected": True, "guarded": EX + "g"}},
}


def chain_docs(length: int) -> dict[str, Any]:
    docs: dict[str, Any] = {
        f"http://ctx/c{i}": {"@context": f"http://ctx/c{i + 1}"} for i in range(length)
    }
    docs[f"http://ctx/c{length}"] = {"@context": {"deep": EX + "deep"}}
    return docs


async def build(context: Any, docs: dict[str, Any] | None = None) -> ActiveContext:
    return await build_active_context(context, MemoryLoader(DOCS if docs is None else docs))


# -- what gets defined ------------------------------------------------------------------------


async def test_none_and_core_urls_give_the_core() -> None:
    loader = MemoryLoader()
    assert await build_active_context(None, loader) is core_active_context()
    for url in CORE_CONTEXT_URLS:
        assert await build_active_context(url, loader) is core_active_context()
    assert await build_active_context([CORE_CONTEXT_URL, {}], loader) is core_active_context()
    assert loader.calls == []


async def test_remote_nested_and_prefixes() -> None:
    loader = MemoryLoader(DOCS)
    ctx = await build_active_context(["http://ctx/nest.jsonld", CORE_CONTEXT_URL], loader)
    assert ctx.expand("rain") == EX + "rainfall"
    assert ctx.expand("ex:level") == EX + "level"
    assert ctx.expand("temp") == EX + "t"
    assert ctx.compact(EX + "level") == "ex:level"
    assert loader.calls == ["http://ctx/nest.jsonld", "http://ctx/a.jsonld"]


async def test_relative_references_resolve_against_the_document() -> None:
    ctx = await build("http://ctx/dir/rel.jsonld")
    assert ctx.expand("sib") == EX + "sib"
    assert ctx.expand("rain") == EX + "rainfall"


async def test_diamond_is_not_a_cycle_and_loads_once() -> None:
    loader = MemoryLoader(DOCS)
    ctx = await build_active_context("http://ctx/diamond.jsonld", loader)
    assert ctx.expand("temp") == EX + "t"
    assert loader.calls.count("http://ctx/a.jsonld") == 1


async def test_core_url_inside_a_remote_context_is_not_loaded() -> None:
    loader = MemoryLoader(DOCS)
    ctx = await build_active_context("http://ctx/with-core.jsonld", loader)
    assert ctx.expand("x") == EX + "x"
    assert loader.calls == ["http://ctx/with-core.jsonld"]


async def test_inline_document_with_nested_context() -> None:
    ctx = await build({"@context": ["http://ctx/a.jsonld", {"@context": {"y": EX + "y"}}]})
    assert ctx.expand("rain") == EX + "rainfall"
    assert ctx.expand("y") == EX + "y"


async def test_term_order_inside_an_object_is_free() -> None:
    ctx = await build({"b": "ex:bee", "a": {"@id": "ex:ay", "@type": "b"}, "ex": EX})
    assert ctx.expand("b") == EX + "bee"
    assert ctx.terms["a"].type_mapping == EX + "bee"


async def test_core_prefix_and_terms_visible_to_user_contexts() -> None:
    ctx = await build({"temp": "ngsi-ld:temperature", "where": "location", "rel": "Point"})
    assert ctx.expand("temp") == NGSI + "temperature"
    assert ctx.expand("where") == NGSI + "location"
    assert ctx.compact(NGSI + "location") == "location"


async def test_terms_relative_to_vocab() -> None:
    ctx = await build({"@vocab": "https://v.example/", "a": "alpha", "b": {"@type": "@id"}})
    assert ctx.expand("a") == "https://v.example/alpha"
    assert ctx.expand("b") == "https://v.example/b"
    plain = await build({"a": "alpha"})
    assert plain.expand("a") == DEFAULT_VOCAB + "alpha"


async def test_vocab_as_compact_iri_and_null() -> None:
    ctx = await build([{"ex": EX}, {"@vocab": "ex:"}])
    assert ctx.vocab == EX
    reset = await build([{"@vocab": EX}, {"@vocab": None}])
    assert reset.vocab == DEFAULT_VOCAB


async def test_iri_like_terms() -> None:
    ctx = await build({"ex": EX, "ex:thing": {"@type": "@id"}, "https://x.example/p": {}})
    assert ctx.expand("ex:thing") == EX + "thing"
    assert ctx.terms["ex:thing"].type_mapping == "@id"
    assert ctx.terms["https://x.example/p"].iri == "https://x.example/p"


async def test_prefix_flags() -> None:
    ctx = await build(
        {
            "slash": EX,
            "noDelim": "https://n.example/ns",
            "forced": {"@id": "https://f.example/ns", "@prefix": True},
            "expanded": {"@id": EX},
        }
    )
    assert ctx.expand("slash:a") == EX + "a"
    assert ctx.expand("noDelim:a") == "noDelim:a"
    assert ctx.expand("forced:a") == "https://f.example/nsa"
    assert ctx.expand("expanded:a") == "expanded:a"  # expanded definitions need @prefix


async def test_null_resets_user_terms_only() -> None:
    ctx = await build(["http://ctx/a.jsonld", None, {"after": EX + "after"}])
    assert ctx.expand("rain") == DEFAULT_VOCAB + "rain"
    assert ctx.expand("after") == EX + "after"
    assert ctx.expand("location") == NGSI + "location"
    assert await build(["http://ctx/a.jsonld", None]) is core_active_context()


async def test_null_term_undefines() -> None:
    ctx = await build(["http://ctx/a.jsonld", {"rain": None, "Gauge": {"@id": None}}])
    assert ctx.expand("rain") == DEFAULT_VOCAB + "rain"
    assert ctx.expand("Gauge") == DEFAULT_VOCAB + "Gauge"


async def test_import() -> None:
    ctx = await build({"@import": "http://ctx/import-base.jsonld", "imp": EX + "override"})
    assert ctx.expand("imp") == EX + "override"
    assert ctx.expand("ex:z") == EX + "z"


async def test_ignored_constructs() -> None:
    ctx = await build(
        {
            "@version": 1.1,
            "@base": "http://base/",
            "@language": "ja",
            "@direction": "ltr",
            "@propagate": True,
            "@type": {"@container": "@set"},
            "@ignoredKeywordLike": EX + "z",
            "scoped": {"@id": EX + "s", "@context": {"location": EX + "evil"}},
            "rev": {"@reverse": EX + "r"},
            "listy": {"@id": EX + "l", "@container": ["@list", "@set"]},
        }
    )
    assert ctx.expand("scoped") == EX + "s"
    assert ctx.expand("location") == NGSI + "location"
    assert ctx.expand("rev") == DEFAULT_VOCAB + "rev"
    assert "@ignoredKeywordLike" not in ctx.terms
    assert ctx.terms["listy"].container == frozenset({"@list", "@set"})


async def test_protected_terms() -> None:
    same = await build(["http://ctx/protected.jsonld", {"guarded": EX + "g"}])
    assert same.expand("guarded") == EX + "g"
    assert same.terms["guarded"].protected
    with pytest.raises(BadRequestData, match="protected"):
        await build(["http://ctx/protected.jsonld", {"guarded": EX + "other"}])
    with pytest.raises(BadRequestData, match="nullification"):
        await build(["http://ctx/protected.jsonld", None])


async def test_core_terms_cannot_be_redefined_even_when_core_comes_first() -> None:
    ctx = await build([CORE_CONTEXT_URL, {"location": "https://evil.example/loc"}])
    assert ctx.expand("location") == NGSI + "location"


# -- errors -------------------------------------------------------------------------------


async def test_unreachable_context_propagates() -> None:
    with pytest.raises(LdContextNotAvailable):
        await build("http://ctx/missing.jsonld")
    with pytest.raises(LdContextNotAvailable):
        await build(["http://ctx/a.jsonld", {"@import": "http://ctx/missing.jsonld"}])


@pytest.mark.parametrize(
    "url",
    ["http://ctx/no-context.jsonld", "http://ctx/number.jsonld", "http://ctx/list.jsonld"],
)
async def test_invalid_remote_context_is_bad_request_data(url: str) -> None:
    with pytest.raises(BadRequestData):
        await build(url)


async def test_cycles() -> None:
    with pytest.raises(BadRequestData, match="itself"):
        await build("http://ctx/loop.jsonld")
    with pytest.raises(BadRequestData, match="itself"):
        await build("http://ctx/ping.jsonld")


async def test_depth_limit() -> None:
    ok = await build("http://ctx/c0", chain_docs(MAX_DEPTH - 1))
    assert ok.expand("deep") == EX + "deep"
    with pytest.raises(BadRequestData, match="deeper"):
        await build("http://ctx/c0", chain_docs(MAX_DEPTH))
    nested: Any = {"x": EX + "x"}
    for _ in range(MAX_DEPTH + 1):
        nested = {"@context": nested}
    with pytest.raises(BadRequestData, match="deeper"):
        await build(nested)


async def test_fan_out_limit() -> None:
    docs = {f"http://ctx/f{i}": {"@context": {f"t{i}": EX + str(i)}} for i in range(40)}
    fine = await build([f"http://ctx/f{i}" for i in range(MAX_REMOTE_CONTEXTS)], docs)
    assert fine.expand("t0") == EX + "0"
    with pytest.raises(BadRequestData, match="remote contexts"):
        await build([f"http://ctx/f{i}" for i in range(MAX_REMOTE_CONTEXTS + 1)], docs)


@pytest.mark.parametrize(
    "context",
    [
        42,
        True,
        [42],
        [["http://ctx/a.jsonld"]],
        {"term": 42},
        {"term": ["https://x.example/"]},
        {"term": {"@id": 42}},
        {"term": {"@id": EX, "@type": "@list"}},
        {"term": {"@id": EX, "@type": 5}},
        {"term": {"@id": EX, "@container": "@bogus"}},
        {"term": {"@id": EX, "@prefix": "yes"}},
        {"ex:term": {"@id": EX, "@prefix": True}, "ex": EX},
        {"term": {"@id": EX, "@protected": "yes"}},
        {"term": "@context"},
        {"@id": EX},
        {"": EX},
        {"@version": 1.0},
        {"@version": "1.1"},
        {"@vocab": 5},
        {"@protected": "yes"},
        {"@direction": "up"},
        {"@import": 5},
        {"a": "b", "b": "a"},
        {"ex": "ex:"},
        {"ex": EX, "ex:x": "https://other.example/x"},
    ],
)
async def test_invalid_contexts(context: Any) -> None:
    with pytest.raises(BadRequestData):
        await build(context)


# -- the cache ----------------------------------------------------------------------------


async def test_cache_builds_once_per_url() -> None:
    loader = MemoryLoader(DOCS)
    cache = ContextCache()
    first = await cache.get("http://ctx/a.jsonld", loader)
    assert await cache.get("http://ctx/a.jsonld", loader) is first
    assert loader.calls == ["http://ctx/a.jsonld"]
    assert await cache.get(None, loader) is core_active_context()


async def test_cache_inline_key_ignores_member_order() -> None:
    cache = ContextCache()
    loader = MemoryLoader()
    first = await cache.get({"a": EX + "a", "b": EX + "b"}, loader)
    assert await cache.get({"b": EX + "b", "a": EX + "a"}, loader) is first
    assert await cache.get([{"a": EX + "a"}, {"b": EX + "b"}], loader) is not first
    assert cache.key("http://x") == "http://x"
    assert cache.key(["http://x"]) != cache.key("http://x")


async def test_cache_is_lru_and_bounded() -> None:
    cache = ContextCache(size=2)
    loader = MemoryLoader()
    a = await cache.get({"a": EX}, loader)
    await cache.get({"b": EX}, loader)
    assert await cache.get({"a": EX}, loader) is a  # refreshes "a"
    await cache.get({"c": EX}, loader)  # evicts "b"
    assert len(cache) == 2
    assert await cache.get({"a": EX}, loader) is a


async def test_cache_skips_huge_inline_contexts_and_failures() -> None:
    cache = ContextCache(max_key_bytes=64)
    loader = MemoryLoader(DOCS)
    big = {f"term{i}": EX + str(i) for i in range(20)}
    await cache.get(big, loader)
    assert len(cache) == 0
    with pytest.raises(LdContextNotAvailable):
        await cache.get("http://ctx/missing.jsonld", loader)
    assert len(cache) == 0


async def test_cache_forget() -> None:
    cache = ContextCache()
    loader = MemoryLoader(DOCS)
    first = await cache.get("http://ctx/a.jsonld", loader)
    cache.forget("http://ctx/a.jsonld")
    assert len(cache) == 0
    assert await cache.get("http://ctx/a.jsonld", loader) is not first
