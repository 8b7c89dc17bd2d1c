"""An active JSON-LD context: the term table a request's @context produced (JSON-LD 1.1 §4.1).

NGSI-LD uses JSON-LD for one thing on the hot path: mapping short names (attribute names,
entity types, ``vocab`` values) to IRIs on the way in and back on the way out (GS CIM 009
clause 5.5.7). This class is that mapping and nothing else: vocabulary-relative IRI
expansion (JSON-LD 1.1 API §5.2, IRI Expansion, with ``vocab`` true) and IRI compaction
without a value (API §6.2, IRI Compaction, with ``vocab`` true).

The core terms have absolute precedence over user terms in both directions (clauses 4.4 and
5.5.7): a user term with a core term's name is shadowed, and an IRI both a core and a user
term map to compacts to the core term. Every result is memoised on the instance (bounded),
and instances are shared through ``hub.jsonld.process.ContextCache``, so a request with a
known @context pays one dict lookup per name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

__all__ = ["MEMO_LIMIT", "ActiveContext", "TermDefinition", "has_scheme", "is_prefix_iri"]

_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_GEN_DELIMS: Final = (":", "/", "?", "#", "[", "]", "@")
MEMO_LIMIT: Final = 2048


def has_scheme(value: str) -> bool:
    """True for an absolute IRI (RFC 3987 scheme then ``:``), e.g. ``urn:x`` or ``http://…``."""
    return _SCHEME.match(value) is not None


def is_prefix_iri(iri: str) -> bool:
    """Whether a simple term mapping to ``iri`` may serve as a prefix (JSON-LD 1.1 §4.4 of
    the API: the IRI ends with a URI gen-delim character, or is a blank node)."""
    return iri.endswith(_GEN_DELIMS) or iri.startswith("_:")


@dataclass(frozen=True, slots=True)
class TermDefinition:
    """One processed term definition (the parts NGSI-LD needs).

    ``type_mapping`` is ``@id``, ``@vocab``, ``@json``, ``@none`` or a datatype IRI;
    ``container`` is the set of ``@container`` keywords (kept for callers, e.g. ``@list``,
    ``@language``); ``prefix`` says whether the term may be the prefix of a compact IRI.
    """

    iri: str
    type_mapping: str | None = None
    container: frozenset[str] = field(default_factory=frozenset)
    prefix: bool = False
    protected: bool = False

    def same_meaning(self, other: TermDefinition) -> bool:
        """Equal apart from the protected flag: the JSON-LD test that lets a protected term
        be "redefined" identically (API §4.2.2, Create Term Definition step 27)."""
        return (self.iri, self.type_mapping, self.container, self.prefix) == (
            other.iri,
            other.type_mapping,
            other.container,
            other.prefix,
        )


def _preference(term: str, core: bool) -> tuple[int, int, str]:
    """Order of candidate terms for one IRI: core first, then shortest, then least."""
    return (0 if core else 1, len(term), term)


class ActiveContext:
    """User terms under the core terms, plus the vocabulary mapping.

    ``user`` and ``core`` are the processed definitions (see ``hub.jsonld.process``);
    ``vocab`` is the user's ``@vocab`` if one was given, otherwise the core's default.
    """

    __slots__ = ("_best", "_compacted", "_defs", "_expanded", "_limit", "_prefixes", "vocab")

    def __init__(
        self,
        user: Mapping[str, TermDefinition],
        core: Mapping[str, TermDefinition],
        vocab: str,
        *,
        memo_limit: int = MEMO_LIMIT,
    ) -> None:
        self.vocab = vocab
        defs = {t: d for t, d in user.items() if t not in core}
        defs.update(core)
        self._defs: dict[str, TermDefinition] = defs
        best: dict[str, tuple[tuple[int, int, str], str]] = {}
        for term, definition in defs.items():
            rank = _preference(term, term in core)
            held = best.get(definition.iri)
            if held is None or rank < held[0]:
                best[definition.iri] = (rank, term)
        self._best: dict[str, str] = {iri: term for iri, (_, term) in best.items()}
        self._prefixes: tuple[tuple[str, str], ...] = tuple(
            (term, d.iri) for term, d in defs.items() if d.prefix and not d.iri.startswith("@")
        )
        self._expanded: dict[str, str] = {}
        self._compacted: dict[str, str] = {}
        self._limit = memo_limit

    # -- introspection ---------------------------------------------------------------------

    @property
    def terms(self) -> Mapping[str, TermDefinition]:
        """Every effective term (user terms not shadowed by core terms, and core terms)."""
        return MappingProxyType(self._defs)

    def definition_for(self, iri: str) -> TermDefinition | None:
        """The definition of the term ``compact(iri)`` would choose, if any term maps to it."""
        term = self._best.get(iri)
        return self._defs[term] if term is not None else None

    def type_mapping(self, iri: str) -> str | None:
        definition = self.definition_for(iri)
        return definition.type_mapping if definition is not None else None

    def is_vocab_typed(self, iri: str) -> bool:
        """The term for ``iri`` is declared ``"@type": "@vocab"``: its string values are
        vocabulary terms, expanded and compacted like names (e.g. core ``vocab``)."""
        return self.type_mapping(iri) == "@vocab"

    def is_json_typed(self, iri: str) -> bool:
        """The term for ``iri`` is declared ``"@type": "@json"``: its value is opaque JSON."""
        return self.type_mapping(iri) == "@json"

    # -- expansion -------------------------------------------------------------------------

    def expand(self, term: str) -> str:
        """Vocabulary-relative IRI expansion of a name or type (JSON-LD API §5.2).

        A defined term gives its IRI; ``prefix:suffix`` whose prefix is a prefix term gives
        the concatenation; any other value with a scheme (``urn:``, ``http:``, or a blank
        node ``_:``) is returned unchanged; anything else is appended to ``@vocab``.
        Keywords (``@id``, ``@type`` …) are returned as they are.
        """
        hit = self._expanded.get(term)
        if hit is None:
            hit = self._expand(term)
            if len(self._expanded) >= self._limit:
                self._expanded.clear()
            self._expanded[term] = hit
        return hit

    def _expand(self, value: str) -> str:
        if value.startswith("@"):
            return value
        definition = self._defs.get(value)
        if definition is not None:
            return definition.iri
        colon = value.find(":", 1)
        if colon > 0:
            prefix, suffix = value[:colon], value[colon + 1 :]
            if prefix == "_" or suffix.startswith("//"):
                return value
            pdef = self._defs.get(prefix)
            if pdef is not None and pdef.prefix:
                return pdef.iri + suffix
            if has_scheme(value):
                return value
        return self.vocab + value

    # -- compaction ------------------------------------------------------------------------

    def compact(self, iri: str) -> str:
        """Vocabulary-relative IRI compaction (JSON-LD API §6.2), the inverse of ``expand``.

        In order: the preferred term mapping to ``iri`` (core before user, then shortest,
        then lexicographically least); the part after ``@vocab`` when it is not itself a
        term; the shortest (then least) compact IRI over the prefix terms; else ``iri``.
        A candidate is only returned if it expands back to ``iri``.
        """
        hit = self._compacted.get(iri)
        if hit is None:
            hit = self._compact(iri)
            if len(self._compacted) >= self._limit:
                self._compacted.clear()
            self._compacted[iri] = hit
        return hit

    def _compact(self, iri: str) -> str:
        term = self._best.get(iri)
        if term is not None:
            return term
        vocab = self.vocab
        if len(iri) > len(vocab) and iri.startswith(vocab):
            suffix = iri[len(vocab) :]
            if suffix not in self._defs and self._expand(suffix) == iri:
                return suffix
        best: str | None = None
        for prefix, prefix_iri in self._prefixes:
            if len(iri) <= len(prefix_iri) or not iri.startswith(prefix_iri):
                continue
            candidate = f"{prefix}:{iri[len(prefix_iri) :]}"
            if best is not None and (len(candidate), candidate) >= (len(best), best):
                continue
            if candidate not in self._defs and self._expand(candidate) == iri:
                best = candidate
        return best if best is not None else iri

    def __repr__(self) -> str:
        return f"<ActiveContext {len(self._defs)} terms, @vocab {self.vocab}>"
