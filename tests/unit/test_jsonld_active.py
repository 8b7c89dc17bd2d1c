"""Expansion and compaction of names with an active context (JSON-LD 1.1 API §5.2, §6.2)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.jsonld.active import ActiveContext, TermDefinition
from hub.jsonld.core import DEFAULT_VOCAB
from hub.jsonld.process import build_active_context, core_active_context
from tests.unit.jsonld_fakes import MemoryLoader

NGSI = "https://uri.etsi.org/ngsi-ld/"
EX = "https://example.org/"
USER = {
    "ex": EX,
    "hash": {"@id": "https://h.example/ns#", "@prefix": True},
    "Gauge": "ex:Gauge",
    "rain": "ex:rainfall",
    "precip": "ex:rainfall",
    "level": {"@id": "ex:level", "@type": "@vocab"},
    "blob": {"@id": "ex:blob", "@type": "@json"},
    "myValue": "ngsi-ld:hasValue",
}


async def active(context: Any) -> ActiveContext:
    return await build_active_context(context, MemoryLoader())


async def test_expand_defined_terms() -> None:
    ctx = await active(USER)
    assert ctx.expand("Gauge") == EX + "Gauge"
    assert ctx.expand("rain") == EX + "rainfall"
    assert ctx.expand("value") == NGSI + "hasValue"


async def test_expand_compact_iris() -> None:
    ctx = await active(USER)
    assert ctx.expand("ex:level2") == EX + "level2"
    assert ctx.expand("hash:x") == "https://h.example/ns#x"
    assert ctx.expand("ngsi-ld:foo") == NGSI + "foo"
    # "Gauge" maps to an IRI without a trailing delimiter: not a prefix (JSON-LD 1.1), so
    # "Gauge:abc" is an IRI with the scheme "gauge".
    assert ctx.expand("Gauge:abc") == "Gauge:abc"


async def test_expand_absolute_iris_and_keywords() -> None:
    ctx = await active(USER)
    for iri in ("urn:ngsi-ld:Thing:1", "http://a.example/x", "ex://not-a-prefix", "_:b0"):
        assert ctx.expand(iri) == iri
    assert ctx.expand("@id") == "@id"
    assert ctx.expand("@type") == "@type"


async def test_expand_falls_back_to_vocab() -> None:
    ctx = await active(USER)
    assert ctx.expand("temperature") == DEFAULT_VOCAB + "temperature"
    assert ctx.expand("un known:x") == DEFAULT_VOCAB + "un known:x"  # not a valid scheme
    assert ctx.expand(":lead") == DEFAULT_VOCAB + ":lead"


async def test_user_vocab_replaces_default() -> None:
    ctx = await active({"@vocab": "https://v.example/"})
    assert ctx.vocab == "https://v.example/"
    assert ctx.expand("temperature") == "https://v.example/temperature"
    assert ctx.compact("https://v.example/temperature") == "temperature"
    assert ctx.compact(DEFAULT_VOCAB + "t") == "ngsi-ld:default-context/t"


async def test_compact_prefers_core_then_shortest_then_least() -> None:
    ctx = await active(USER)
    assert ctx.compact(EX + "rainfall") == "rain"  # "rain" < "precip" by length
    assert ctx.compact(NGSI + "hasValue") == "value"  # the core term wins over "myValue"
    two = await active({"bb": EX + "same", "aa": EX + "same"})
    assert two.compact(EX + "same") == "aa"


async def test_compact_vocab_before_compact_iri() -> None:
    ctx = await active(None)
    # both "temperature" and "ngsi-ld:default-context/temperature" expand back; the vocab
    # form comes first, as in JSON-LD IRI compaction
    assert ctx.compact(DEFAULT_VOCAB + "temperature") == "temperature"
    assert ctx.compact(NGSI + "unknown") == "ngsi-ld:unknown"


async def test_compact_vocab_suffix_must_not_be_a_term_or_iri() -> None:
    ctx = await active(USER)
    # "rain" is a term, so the vocab-relative form would expand elsewhere
    assert ctx.compact(DEFAULT_VOCAB + "rain") == "ngsi-ld:default-context/rain"
    # "urn:x" would expand as an absolute IRI
    assert ctx.compact(DEFAULT_VOCAB + "urn:x") == "ngsi-ld:default-context/urn:x"


async def test_compact_iri_shortest_candidate() -> None:
    ctx = await active({"ex": EX, "deep": EX + "a/b/", "verylongprefixname": EX + "a/b/c/"})
    assert ctx.compact(EX + "a/b/c/d") == "deep:c/d"
    assert ctx.compact(EX + "z") == "ex:z"
    assert ctx.compact("https://elsewhere.example/x") == "https://elsewhere.example/x"


async def test_type_coercion_queries() -> None:
    ctx = await active(USER)
    assert ctx.is_vocab_typed(EX + "level")
    assert ctx.is_json_typed(EX + "blob")
    assert not ctx.is_vocab_typed(EX + "rainfall")
    assert ctx.type_mapping(NGSI + "hasObject") == "@id"
    assert ctx.definition_for(EX + "nothing") is None


async def test_core_terms_shadow_user_terms() -> None:
    ctx = await active({"location": "https://evil.example/loc", "type": "ex:kind", "ex": EX})
    assert ctx.expand("location") == NGSI + "location"
    assert ctx.expand("type") == "@type"
    assert ctx.compact("https://evil.example/loc") == "https://evil.example/loc"
    assert ctx.terms["location"].iri == NGSI + "location"


def test_memo_is_bounded() -> None:
    core = {"ex": TermDefinition(EX, prefix=True)}
    ctx = ActiveContext({}, core, DEFAULT_VOCAB, memo_limit=8)
    for i in range(50):
        assert ctx.expand(f"t{i}") == DEFAULT_VOCAB + f"t{i}"
        assert ctx.compact(EX + f"t{i}") == f"ex:t{i}"
    assert len(ctx._expanded) <= 8 and len(ctx._compacted) <= 8


def test_core_singleton_is_shared() -> None:
    assert core_active_context() is core_active_context()


_names = st.from_regex(r"[a-z][a-zA-Z0-9_]{0,10}", fullmatch=True)
_paths = st.from_regex(r"[A-Za-z0-9_\-/#.]{1,16}", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_names, _paths, min_size=1, max_size=8))
async def test_unambiguous_user_terms_round_trip(names: dict[str, str]) -> None:
    context = {term: f"https://example.org/{suffix}" for term, suffix in names.items()}
    ctx = await active(context)
    core = core_active_context().terms
    for term, iri in context.items():
        if term in core or list(context.values()).count(iri) > 1:
            continue  # shadowed by the core, or ambiguous by construction
        assert ctx.expand(term) == iri
        assert ctx.compact(ctx.expand(term)) == term


_iris = st.builds(
    lambda base, rest: base + rest,
    st.sampled_from([EX, EX + "a/", NGSI, DEFAULT_VOCAB, "https://h.example/ns#", "http://z/"]),
    st.from_regex(r"[A-Za-z0-9_:/#\-.]{0,12}", fullmatch=True),
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_names, st.sampled_from([EX, EX + "a/", EX + "Gauge"]), max_size=5), _iris)
async def test_compaction_always_expands_back(prefixes: dict[str, str], iri: str) -> None:
    ctx = await active({**USER, **prefixes})
    assert ctx.expand(ctx.compact(iri)) == iri
