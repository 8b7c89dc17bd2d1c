"""Context processing and term mapping, with an in-memory loader (no network)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.errors import BadRequestData, LdContextNotAvailable
from hub.jsonld.core import CORE_CONTEXT_URL, DEFAULT_VOCAB
from hub.jsonld.process import ContextCache, build_active_context

DOCS: dict[str, Any] = {
    "http://ctx/a.jsonld": {"@context": {"ex": "https://example.org/", "rain": "ex:rainfall",
                                         "Gauge": "https://example.org/Gauge"}},
    "http://ctx/nest.jsonld": {"@context": ["http://ctx/a.jsonld",
                                            {"temp": "https://example.org/t"}]},
    "http://ctx/loop.jsonld": {"@context": "http://ctx/loop.jsonld"},
    "http://ctx/bad.jsonld": {"no": "context"},
}


class Loader:
    def __init__(self) -> None:
        self.calls = 0

    async def load(self, url: str) -> Any:
        self.calls += 1
        if url not in DOCS:
            raise LdContextNotAvailable(url)
        return DOCS[url]


async def test_core_only() -> None:
    ctx = await build_active_context(None, Loader())
    assert ctx.expand("location") == "https://uri.etsi.org/ngsi-ld/location"
    assert ctx.expand("temperature") == DEFAULT_VOCAB + "temperature"
    assert ctx.compact(DEFAULT_VOCAB + "temperature") == "temperature"
    assert ctx.compact("https://uri.etsi.org/ngsi-ld/hasValue") == "value"
    assert ctx.expand("urn:x:y") == "urn:x:y"


async def test_remote_nested_and_prefixes() -> None:
    ctx = await build_active_context(["http://ctx/nest.jsonld", CORE_CONTEXT_URL], Loader())
    assert ctx.expand("rain") == "https://example.org/rainfall"
    assert ctx.expand("ex:level") == "https://example.org/level"
    assert ctx.expand("temp") == "https://example.org/t"
    assert ctx.compact("https://example.org/rainfall") == "rain"
    assert ctx.compact("https://example.org/level") == "ex:level"
    assert ctx.compact("https://other.org/x") == "https://other.org/x"


async def test_core_terms_cannot_be_redefined() -> None:
    ctx = await build_active_context({"location": "https://evil.org/loc"}, Loader())
    assert ctx.expand("location") == "https://uri.etsi.org/ngsi-ld/location"


async def test_errors() -> None:
    with pytest.raises(BadRequestData):
        await build_active_context("http://ctx/loop.jsonld", Loader())
    with pytest.raises(LdContextNotAvailable):
        await build_active_context("http://ctx/missing.jsonld", Loader())
    with pytest.raises(BadRequestData):  # reachable, but not a JSON-LD context document
        await build_active_context("http://ctx/bad.jsonld", Loader())
    with pytest.raises(BadRequestData):
        await build_active_context([42], Loader())


async def test_cache_builds_once() -> None:
    loader = Loader()
    cache = ContextCache()
    first = await cache.get("http://ctx/a.jsonld", loader)
    assert await cache.get("http://ctx/a.jsonld", loader) is first
    assert loader.calls == 1


_term = st.from_regex(r"[a-z][a-zA-Z0-9]{0,12}", fullmatch=True)


@given(st.dictionaries(_term, _term, min_size=1, max_size=8))
async def test_round_trip(names: dict[str, str]) -> None:
    ctx_doc = {t: f"https://example.org/{t}/{suffix}" for t, suffix in names.items()}
    ctx = await build_active_context(ctx_doc, Loader())
    for term in ctx_doc:
        if ctx.terms[term].iri == ctx_doc[term]:  # not shadowed by a core term
            assert ctx.compact(ctx.expand(term)) == term
