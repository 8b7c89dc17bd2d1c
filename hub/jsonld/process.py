"""Context processing: turn the @context a request supplied into an ``ActiveContext``.

Implements the part of the JSON-LD 1.1 Context Processing and Create Term Definition
algorithms (JSON-LD 1.1 API §4.1, §4.2) that gives names their IRIs: simple and expanded
term definitions (``@id``, ``@type``, ``@container``, ``@prefix``, ``@protected``),
``@vocab``, prefixes and compact IRIs (a term may use a prefix defined anywhere in the same
context object, or earlier), ``null`` resets, ``@version``, ``@import``, and remote contexts
(relative references resolved against the referring document). This module walks arrays,
remote documents and ``@import``; ``hub.jsonld.terms`` defines the terms of each object.

NGSI-LD rules layered on top (GS CIM 009 V1.9.1):

* The core context is implicitly present and has absolute precedence (4.4, 5.5.7): core URLs
  in a request are recognised and never loaded, the core terms are applied as if last, and a
  user term with a core term's name is shadowed, silently. (JSON-LD ``@protected`` would only
  raise if the core came *first*; 4.4 says to treat it as last, where the JSON-LD outcome is
  the same shadowing.) While a user context is processed, the core terms stay visible
  underneath it, so ``"temp": "ngsi-ld:temperature"`` works without redefining ``ngsi-ld``.
* A user ``@vocab`` replaces the core's default ``@vocab``, which 4.4 calls a fallback.
* Documents built in (``hub.jsonld.builtin``: the contracts' @context) are never loaded;
  they are processed like any remote context, where the request names them.
* A remote context that cannot be loaded is ``LdContextNotAvailable`` (raised by the
  loader); one that is loaded but is not a valid context is ``BadRequestData`` (5.5.6), and
  so is an invalid inline context, since it is the same defect arriving by another route.

Deliberate simplifications: scoped contexts (``@context`` inside a term definition) are
ignored, which keeps them from reshaping core terms, the danger 5.5.7 cites; ``@reverse``
terms are left undefined; a term mapped to ``null`` is removed rather than made to drop the
property; ``@base``, ``@language``, ``@direction`` and ``@propagate`` are type-checked and
otherwise ignored; an inline object carrying ``@context`` is taken as a whole document.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Final, Protocol
from urllib.parse import urljoin

import orjson

from hub.jsonld.active import ActiveContext, has_scheme
from hub.jsonld.builtin import builtin_document
from hub.jsonld.core import CORE_CONTEXT, CORE_CONTEXT_URLS, DEFAULT_VOCAB
from hub.jsonld.terms import TermBuilder, invalid_context

__all__ = [
    "MAX_DEPTH",
    "MAX_REMOTE_CONTEXTS",
    "ContextCache",
    "ContextLoader",
    "build_active_context",
    "core_active_context",
]

MAX_DEPTH: Final = 8
"""Nesting limit for remote (and inline-document) contexts; JSON-LD's ``context overflow``."""
MAX_REMOTE_CONTEXTS: Final = 32
"""Distinct remote documents one request may pull in, against fan-out as well as depth."""


class ContextLoader(Protocol):
    """Fetches remote context documents; ``hub.jsonld.remote.ContextStore`` in the hub."""

    async def load(self, url: str) -> Any:
        """The parsed JSON document at ``url`` (a dict whose ``@context`` is a URL, list or
        dict); raises ``LdContextNotAvailable`` when it cannot be retrieved (5.5.6)."""
        ...


def _resolve(ref: str, base: str) -> str:
    """A context reference made absolute against the document it appears in (API §4.1.2
    step 5.2.1); references in the request itself have no base and stay as given."""
    return urljoin(base, ref) if base and not has_scheme(ref) else ref


def _context_member(doc: Any, url: str) -> Any:
    if not isinstance(doc, dict) or "@context" not in doc:
        raise invalid_context(f"{url} is not a JSON-LD document with an @context member")
    return doc["@context"]


class _Processor:
    """The context processing algorithm (API §4.1) over one ``TermBuilder``."""

    def __init__(self, loader: ContextLoader, builder: TermBuilder) -> None:
        self._loader = loader
        self._builder = builder
        self._documents: dict[str, Any] = {}

    async def apply(self, context: Any, chain: tuple[str, ...], depth: int, base: str) -> None:
        """Process ``context`` (null, URL, object or array of those) on top of the state.

        ``chain`` holds the remote URLs being processed (cycle detection), ``base`` the URL
        relative references resolve against (empty for what the request itself supplied).
        """
        for item in context if isinstance(context, list) else (context,):
            if item is None:
                self._builder.nullify()
            elif isinstance(item, str):
                await self._remote(item, chain, depth, base)
            elif isinstance(item, dict):
                if "@context" in item:  # a whole document given inline
                    if depth >= MAX_DEPTH:
                        raise invalid_context(f"contexts nested deeper than {MAX_DEPTH}")
                    await self.apply(item["@context"], chain, depth + 1, base)
                    continue
                if "@import" in item:
                    item = await self._import(item, chain, depth, base)
                self._builder.define_local(item)
            else:
                raise invalid_context(f"{item!r} is neither null, a URL nor a context object")

    async def _fetch(self, url: str, chain: tuple[str, ...], depth: int) -> Any:
        """The ``@context`` member of the document at ``url`` (loaded once per build)."""
        if url in chain:
            raise invalid_context(f"{url} includes itself (recursive context inclusion)")
        if depth >= MAX_DEPTH:
            raise invalid_context(f"remote contexts nested deeper than {MAX_DEPTH}")
        if url not in self._documents:
            if len(self._documents) >= MAX_REMOTE_CONTEXTS:
                raise invalid_context(f"more than {MAX_REMOTE_CONTEXTS} remote contexts")
            builtin = builtin_document(url)  # the contracts' context: never fetched
            self._documents[url] = builtin if builtin is not None else await self._loader.load(url)
        return _context_member(self._documents[url], url)

    async def _remote(self, ref: str, chain: tuple[str, ...], depth: int, base: str) -> None:
        url = _resolve(ref, base)
        if url in CORE_CONTEXT_URLS:
            return  # built in, and applied last anyway
        context = await self._fetch(url, chain, depth)
        await self.apply(context, (*chain, url), depth + 1, url)

    async def _import(
        self, item: dict[str, Any], chain: tuple[str, ...], depth: int, base: str
    ) -> dict[str, Any]:
        """``@import`` (API §4.1.2 step 5.6): the named context object, overridden by
        ``item``'s own entries."""
        ref = item["@import"]
        if not isinstance(ref, str):
            raise invalid_context("@import must be a URL")
        own = {k: v for k, v in item.items() if k != "@import"}
        url = _resolve(ref, base)
        if url in CORE_CONTEXT_URLS:
            return own
        imported = await self._fetch(url, chain, depth)
        if not isinstance(imported, dict) or "@import" in imported:
            raise invalid_context(f"@import {ref} must name one context object without @import")
        return {**imported, **own}


def _build_core() -> ActiveContext:
    builder = TermBuilder({})
    builder.define_local(CORE_CONTEXT)
    return ActiveContext({}, builder.terms, builder.vocab or DEFAULT_VOCAB)


_CORE: Final = _build_core()


def core_active_context() -> ActiveContext:
    """The shared active context of the core alone (5.5.5: no user @context given)."""
    return _CORE


async def build_active_context(context: Any, loader: ContextLoader) -> ActiveContext:
    """Process what a request supplied as @context (None, a URL, a context object, or a
    list of those) into an active context with the core terms on top (4.4, 5.5.7).

    Raises ``LdContextNotAvailable`` (from ``loader``) for a remote context that cannot be
    retrieved and ``BadRequestData`` for anything that is not a valid context (5.5.6).
    """
    if context is None:
        return _CORE
    builder = TermBuilder(_CORE.terms)
    await _Processor(loader, builder).apply(context, (), 0, "")
    if not builder.terms and builder.vocab is None:
        return _CORE
    return ActiveContext(builder.terms, _CORE.terms, builder.vocab or _CORE.vocab)


class ContextCache:
    """Built active contexts by request @context, least recently used out.

    The key of a URL (the usual Link header) is the URL itself; an inline context is keyed
    by its canonical JSON (sorted keys: member order inside a context object has no meaning)
    as bytes, which never equal a ``str`` key. Inline contexts larger than ``max_key_bytes``
    are processed every time rather than pinned in memory. Only successes are cached, so an
    unreachable context is retried on the next request.
    """

    def __init__(self, size: int = 256, *, max_key_bytes: int = 65536) -> None:
        self._size = size
        self._max_key_bytes = max_key_bytes
        self._items: OrderedDict[str | bytes | None, ActiveContext] = OrderedDict()

    def key(self, context: Any) -> str | bytes | None:
        """The cache key of ``context``, or None for the core alone."""
        if context is None or isinstance(context, str):
            return context
        try:
            return orjson.dumps(context, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError as exc:
            raise invalid_context(str(exc)) from exc

    async def get(self, context: Any, loader: ContextLoader) -> ActiveContext:
        if context is None:
            return _CORE
        key = self.key(context)
        hit = self._items.get(key)
        if hit is not None:
            self._items.move_to_end(key)
            return hit
        active = await build_active_context(context, loader)
        if not isinstance(key, bytes) or len(key) <= self._max_key_bytes:
            self._items[key] = active
            if len(self._items) > self._size:
                self._items.popitem(last=False)
        return active

    def forget(self, url: str | None = None) -> None:
        """Drop cached contexts after a context document changed (``DELETE /jsonldContexts``).

        All of them, whatever ``url`` is: the URL may be nested inside any cached context.
        """
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
