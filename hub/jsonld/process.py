"""Context processing: turn what a request supplied as @context into an ``ActiveContext``.

Follows the part of JSON-LD 1.1 context processing NGSI-LD relies on (term definitions,
``@vocab``, prefixes and compact IRIs, remote and nested contexts, ``null`` resets). The
core context is always applied last and its terms cannot be redefined (GS CIM 009 5.5.7:
the core context is protected); a user term that collides with a core term is ignored.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Protocol

import orjson

from hub.errors import BadRequestData, LdContextNotAvailable
from hub.jsonld.active import ActiveContext, TermDefinition, is_prefix_iri
from hub.jsonld.core import CORE_CONTEXT_URLS, CORE_TERMS, DEFAULT_VOCAB

__all__ = ["ContextCache", "ContextLoader", "build_active_context"]

_MAX_DEPTH = 8
_IGNORED_KEYWORDS = {"@version", "@protected", "@propagate", "@base", "@language",
                     "@direction", "@import"}


class ContextLoader(Protocol):
    async def load(self, url: str) -> Any: ...


class _Builder:
    def __init__(self, loader: ContextLoader) -> None:
        self.loader = loader
        self.terms: dict[str, TermDefinition] = {}
        self.vocab: str | None = None

    async def process(self, ctx: Any, chain: tuple[str, ...] = ()) -> None:
        if len(chain) > _MAX_DEPTH:
            raise BadRequestData(f"@context nesting deeper than {_MAX_DEPTH}")
        if ctx is None:
            self.terms.clear()
            self.vocab = None
        elif isinstance(ctx, list):
            for item in ctx:
                await self.process(item, chain)
        elif isinstance(ctx, str):
            await self._remote(ctx, chain)
        elif isinstance(ctx, dict):
            self._local(ctx)
        else:
            raise BadRequestData(f"invalid @context entry {ctx!r}")

    async def _remote(self, url: str, chain: tuple[str, ...]) -> None:
        if url in CORE_CONTEXT_URLS:
            return
        if url in chain:
            raise BadRequestData(f"@context {url} includes itself")
        doc = await self.loader.load(url)
        if not isinstance(doc, dict) or "@context" not in doc:
            raise LdContextNotAvailable(f"{url} is not a JSON-LD document with @context")
        await self.process(doc["@context"], (*chain, url))

    def _local(self, ctx: dict[str, Any]) -> None:
        if "@vocab" in ctx:
            vocab = ctx["@vocab"]
            if vocab is not None and not isinstance(vocab, str):
                raise BadRequestData("@vocab must be a string or null")
            self.vocab = self._expand_value(vocab) if vocab else None
        pending = {k: v for k, v in ctx.items() if not k.startswith("@")}
        for key in ctx:
            if key.startswith("@") and key not in _IGNORED_KEYWORDS and key != "@vocab":
                raise BadRequestData(f"unsupported keyword {key!r} in @context")
        # define terms in dependency order: a value may use a prefix defined alongside it
        for _ in range(len(pending) + 1):
            progressed = False
            for term, value in list(pending.items()):
                if self._depends_on_pending(value, pending, term):
                    continue
                self._define(term, value)
                del pending[term]
                progressed = True
            if not pending or not progressed:
                break
        for term, value in pending.items():  # cyclic leftovers: define as they stand
            self._define(term, value)

    def _depends_on_pending(self, value: Any, pending: dict[str, Any], term: str) -> bool:
        iri = value.get("@id") if isinstance(value, dict) else value
        if not isinstance(iri, str) or ":" not in iri:
            return False
        prefix = iri.split(":", 1)[0]
        return prefix != term and prefix in pending

    def _define(self, term: str, value: Any) -> None:
        if value is None:
            self.terms.pop(term, None)
            return
        coercion = None
        explicit_prefix = False
        if isinstance(value, dict):
            iri = value.get("@id", term if ":" in term else None)
            coercion = value.get("@type")
            explicit_prefix = bool(value.get("@prefix"))
            if value.get("@container") == "@list" and coercion is None:
                coercion = "@list"
            if iri is None:
                iri = (self.vocab or DEFAULT_VOCAB) + term
        else:
            iri = value
        if not isinstance(iri, str) or (coercion is not None and not isinstance(coercion, str)):
            raise BadRequestData(f"invalid definition of term {term!r} in @context")
        full = self._expand_value(iri)
        if isinstance(coercion, str) and not coercion.startswith("@"):
            coercion = self._expand_value(coercion)
        simple = not isinstance(value, dict)
        self.terms[term] = TermDefinition(
            full, coercion, prefix=explicit_prefix or (simple and is_prefix_iri(full))
        )

    def _expand_value(self, iri: str) -> str:
        if iri.startswith("@"):
            return iri
        if ":" in iri:
            prefix, suffix = iri.split(":", 1)
            definition = self.terms.get(prefix)
            if definition is not None and not suffix.startswith("//"):
                return definition.iri + suffix
            return iri
        definition = self.terms.get(iri)
        if definition is not None:
            return definition.iri
        return (self.vocab or DEFAULT_VOCAB) + iri

    def build(self) -> ActiveContext:
        user_vocab = self.vocab
        terms = dict(self.terms)
        core = _core_terms()
        terms.update(core)  # core terms are protected: they win over user definitions
        return ActiveContext(terms, user_vocab or DEFAULT_VOCAB)


_CORE_CACHE: dict[str, TermDefinition] = {}


def _core_terms() -> dict[str, TermDefinition]:
    if not _CORE_CACHE:
        builder = _Builder(_NoLoader())
        builder._local(CORE_TERMS)
        _CORE_CACHE.update(builder.terms)
    return _CORE_CACHE


class _NoLoader:
    async def load(self, url: str) -> Any:
        raise LdContextNotAvailable(url)


async def build_active_context(context: Any, loader: ContextLoader) -> ActiveContext:
    builder = _Builder(loader)
    if context is not None:
        await builder.process(context)
    return builder.build()


class ContextCache:
    """Active contexts by request key, LRU: one dict lookup per request with a known context."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._items: OrderedDict[str, ActiveContext] = OrderedDict()

    @staticmethod
    def key(context: Any) -> str:
        if context is None:
            return ""
        if isinstance(context, str):
            return context
        return orjson.dumps(context, option=orjson.OPT_SORT_KEYS).decode()

    async def get(self, context: Any, loader: ContextLoader) -> ActiveContext:
        key = self.key(context)
        hit = self._items.get(key)
        if hit is not None:
            self._items.move_to_end(key)
            return hit
        active = await build_active_context(context, loader)
        self._items[key] = active
        if len(self._items) > self._size:
            self._items.popitem(last=False)
        return active

    def forget(self, url: str | None = None) -> None:
        """Drop cached contexts (all of them: a URL may be nested inside any of them)."""
        self._items.clear()
