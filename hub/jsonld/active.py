"""An active JSON-LD context: the term table a request's @context produced (JSON-LD 1.1 §4.1).

NGSI-LD uses JSON-LD only to map short names to IRIs and back, so this is that mapping,
fast: both directions are memoised per context, and contexts are cached per request key
(``hub.jsonld.process.ContextCache``), so the hot path is two dict lookups.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ActiveContext", "TermDefinition"]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_GEN_DELIMS = ("/", "#", ":", "?", "[", "]", "@")
_MEMO_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class TermDefinition:
    iri: str
    coercion: str | None = None  # "@id", "@vocab", "@json", a datatype IRI, or None
    prefix: bool = False


class ActiveContext:
    def __init__(self, terms: dict[str, TermDefinition], vocab: str | None) -> None:
        self.terms = terms
        self.vocab = vocab
        self._reverse: dict[str, list[str]] = {}
        for term, definition in terms.items():
            if not term.startswith("@"):
                self._reverse.setdefault(definition.iri, []).append(term)
        for names in self._reverse.values():
            names.sort(key=lambda t: (len(t), t))
        self._prefixes = sorted(
            ((d.iri, t) for t, d in terms.items() if d.prefix and ":" not in t),
            key=lambda p: -len(p[0]),
        )
        self._expanded: dict[str, str] = {}
        self._compacted: dict[str, str] = {}

    def expand(self, term: str) -> str:
        """Vocabulary-relative IRI expansion, as for property names and type values."""
        hit = self._expanded.get(term)
        if hit is not None:
            return hit
        iri = self._expand(term)
        if len(self._expanded) < _MEMO_LIMIT:
            self._expanded[term] = iri
        return iri

    def _expand(self, term: str) -> str:
        if term.startswith("@"):
            return term
        definition = self.terms.get(term)
        if definition is not None:
            return definition.iri
        if ":" in term:
            prefix, suffix = term.split(":", 1)
            if not suffix.startswith("//"):
                pdef = self.terms.get(prefix)
                if pdef is not None:
                    return pdef.iri + suffix
            if _SCHEME.match(term):
                return term
        if self.vocab is not None:
            return self.vocab + term
        return term

    def compact(self, iri: str) -> str:
        """The shortest term for ``iri``, else a vocab-relative name, else a compact IRI."""
        hit = self._compacted.get(iri)
        if hit is not None:
            return hit
        short = self._compact(iri)
        if len(self._compacted) < _MEMO_LIMIT:
            self._compacted[iri] = short
        return short

    def _compact(self, iri: str) -> str:
        names = self._reverse.get(iri)
        if names:
            return names[0]
        if self.vocab and iri.startswith(self.vocab):
            rest = iri[len(self.vocab):]
            if rest and rest not in self.terms and ":" not in rest:
                return rest
        best: str | None = None
        for prefix_iri, term in self._prefixes:
            if iri.startswith(prefix_iri) and len(iri) > len(prefix_iri):
                candidate = f"{term}:{iri[len(prefix_iri):]}"
                if candidate not in self.terms and (best is None or len(candidate) < len(best)):
                    best = candidate
        return best if best is not None else iri

    def coercion(self, iri: str) -> str | None:
        names = self._reverse.get(iri)
        return self.terms[names[0]].coercion if names else None

    def is_vocab_typed(self, iri: str) -> bool:
        return self.coercion(iri) == "@vocab"

    def is_json_typed(self, iri: str) -> bool:
        return self.coercion(iri) == "@json"


def is_prefix_iri(iri: str) -> bool:
    return iri.endswith(_GEN_DELIMS)
