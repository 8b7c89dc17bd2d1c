"""Create Term Definition (JSON-LD 1.1 API §4.2) for one context object at a time.

The synchronous half of context processing, split from ``hub.jsonld.process`` (which owns
remote documents, ``@import``, ``null`` and caching): a ``TermBuilder`` holds the user terms
and ``@vocab`` defined so far and applies context objects to them. Term definitions inside
one object may refer to each other in any order (dependencies are defined on demand, with
cycle detection), and the core terms stay visible underneath, so a user context can use the
``ngsi-ld:`` prefix or a core term without defining it (GS CIM 009 4.4: the core is
implicitly present).

Every defect is ``BadRequestData``: 5.5.6 assigns it to invalid remote contexts, and an
invalid inline context is the same defect arriving by another route.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from hub.errors import BadRequestData
from hub.jsonld.active import TermDefinition, has_scheme, is_prefix_iri
from hub.jsonld.core import DEFAULT_VOCAB

__all__ = ["CONTEXT_KEYWORDS", "TermBuilder", "invalid_context"]

CONTEXT_KEYWORDS: Final = frozenset(
    {"@base", "@direction", "@import", "@language", "@propagate", "@protected", "@type"}
    | {"@version", "@vocab"}
)
_KEYWORDS: Final = CONTEXT_KEYWORDS | {
    *("@container", "@context", "@graph", "@id", "@included", "@index", "@json", "@list"),
    *("@nest", "@none", "@prefix", "@reverse", "@set", "@value"),
}
_KEYWORD_FORM: Final = re.compile(r"@[A-Za-z]+")
_TYPE_KEYWORDS: Final = frozenset({"@id", "@json", "@none", "@vocab"})
_CONTAINERS: Final = frozenset({"@graph", "@id", "@index", "@language", "@list", "@set", "@type"})


def invalid_context(detail: str) -> BadRequestData:
    """The error for anything that is not a valid JSON-LD context (5.5.6)."""
    return BadRequestData(f"invalid JSON-LD @context: {detail}")


def _is_iri(value: str) -> bool:
    return has_scheme(value) or value.startswith("_:")


def _containers(term: str, raw: Any) -> frozenset[str]:
    values = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else None
    if raw is None:
        return frozenset()
    if values is None or not all(isinstance(v, str) and v in _CONTAINERS for v in values):
        raise invalid_context(f"term {term!r} has an invalid @container {raw!r}")
    return frozenset(values)


class TermBuilder:
    """User term definitions and ``@vocab`` under construction, core terms underneath."""

    def __init__(self, underneath: Mapping[str, TermDefinition]) -> None:
        self._underneath = underneath
        self.terms: dict[str, TermDefinition] = {}
        self.vocab: str | None = None

    def nullify(self) -> None:
        """A ``null`` context (API §4.1.2 step 5.1): back to no user terms."""
        if any(d.protected for d in self.terms.values()):
            raise invalid_context(
                "null would discard protected terms (invalid context nullification)"
            )
        self.terms.clear()
        self.vocab = None

    def define_local(self, local: dict[str, Any]) -> None:
        """Apply one context object (API §4.1.2 steps 5.5 to 5.13); synchronous."""
        version = local.get("@version", 1.1)
        if isinstance(version, bool) or version != 1.1:
            raise invalid_context(f"@version must be 1.1, not {version!r}")
        for key, allowed in (("@protected", bool), ("@propagate", bool), ("@type", dict)):
            if key in local and not isinstance(local[key], allowed):
                raise invalid_context(f"{key} must be a {allowed.__name__}")
        for key in ("@base", "@language"):
            if local.get(key) is not None and not isinstance(local[key], str):
                raise invalid_context(f"{key} must be a string or null")
        if local.get("@direction") not in (None, "ltr", "rtl"):
            raise invalid_context('@direction must be "ltr", "rtl" or null')
        if "@vocab" in local:
            self.vocab = self._vocab_mapping(local["@vocab"])
        defined: dict[str, bool] = {}
        for term in local:
            if term not in CONTEXT_KEYWORDS:
                self._define(local, term, defined)

    def _vocab_mapping(self, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise invalid_context("@vocab must be a string or null")
        iri = self._expand_iri(value, None, {})
        if not _is_iri(iri):
            raise invalid_context(f"@vocab {value!r} is not an IRI")
        return iri

    def _lookup(self, term: str) -> TermDefinition | None:
        found = self.terms.get(term)
        return found if found is not None else self._underneath.get(term)

    def _vocab(self) -> str:
        return self.vocab if self.vocab is not None else DEFAULT_VOCAB

    def _define(self, local: dict[str, Any], term: str, defined: dict[str, bool]) -> None:
        state = defined.get(term)
        if state:
            return
        if state is False:
            raise invalid_context(f"cyclic IRI mapping involving {term!r}")
        defined[term] = False
        # API §4.2.2 step 11: the old definition is out of the way while the new one is made
        previous = self.terms.pop(term, None)
        definition = self._definition(local, term, defined)
        defined[term] = True
        if previous is not None and previous.protected:
            if definition is None or not previous.same_meaning(definition):
                raise invalid_context(f"protected term {term!r} cannot be redefined")
            definition = previous
        if definition is not None:
            self.terms[term] = definition

    def _definition(
        self, local: dict[str, Any], term: str, defined: dict[str, bool]
    ) -> TermDefinition | None:
        """The new definition of ``term``, or None to leave it undefined."""
        value = local[term]
        if term == "":
            raise invalid_context("the empty string cannot be a term")
        if term in _KEYWORDS:
            raise invalid_context(f"keyword {term} cannot be redefined")
        if _KEYWORD_FORM.fullmatch(term):
            return None  # reserved for future keywords: ignored, as JSON-LD requires
        simple = isinstance(value, str)
        if simple:
            value = {"@id": value}
        elif value is None:
            return None
        elif not isinstance(value, dict):
            raise invalid_context(f"term {term!r} must map to a string, an object or null")
        if "@reverse" in value or ("@id" in value and value["@id"] is None):
            return None
        protected = value.get("@protected", local.get("@protected", False))
        if not isinstance(protected, bool):
            raise invalid_context(f"@protected of term {term!r} must be a boolean")
        iri = self._term_iri(local, term, value, defined)
        if iri is None:
            return None
        explicit_prefix = value.get("@prefix")
        if explicit_prefix is not None:
            if not isinstance(explicit_prefix, bool):
                raise invalid_context(f"@prefix of term {term!r} must be a boolean")
            if ":" in term or "/" in term:
                raise invalid_context(f"term {term!r} is an IRI and cannot be a prefix")
            prefix = explicit_prefix
        else:
            prefix = simple and ":" not in term and "/" not in term and is_prefix_iri(iri)
        return TermDefinition(
            iri=iri,
            type_mapping=self._type_mapping(local, term, value, defined),
            container=_containers(term, value.get("@container")),
            prefix=prefix,
            protected=protected,
        )

    def _term_iri(
        self, local: dict[str, Any], term: str, value: dict[str, Any], defined: dict[str, bool]
    ) -> str | None:
        """The IRI mapping (API §4.2.2 steps 14 to 20); None when the term is to be ignored."""
        raw = value.get("@id", term)
        if raw != term:
            if not isinstance(raw, str):
                raise invalid_context(f"@id of term {term!r} must be a string")
            if raw not in _KEYWORDS and _KEYWORD_FORM.fullmatch(raw):
                return None
            iri = self._expand_iri(raw, local, defined)
            if iri == "@context":
                raise invalid_context(f"term {term!r} cannot alias @context")
            if iri not in _KEYWORDS and not _is_iri(iri):
                raise invalid_context(f"term {term!r} maps to {raw!r}, which is not an IRI")
            if ":" in term[1:-1] or "/" in term:
                # a term that looks like an IRI must not contradict its own expansion
                defined[term] = True
                if self._expand_iri(term, local, defined) != iri:
                    raise invalid_context(f"term {term!r} is an IRI mapped to a different IRI")
            return iri
        colon = term.find(":", 1)
        if colon > 0:
            prefix = term[:colon]
            if prefix in local and not prefix.startswith("@"):
                self._define(local, prefix, defined)
            pdef = self._lookup(prefix)
            return pdef.iri + term[colon + 1 :] if pdef is not None else term
        if "/" in term:
            iri = self._expand_iri(term, local, defined)
            if not _is_iri(iri):
                raise invalid_context(f"term {term!r} does not expand to an IRI")
            return iri
        return self._vocab() + term

    def _type_mapping(
        self, local: dict[str, Any], term: str, value: dict[str, Any], defined: dict[str, bool]
    ) -> str | None:
        if "@type" not in value:
            return None
        raw = value["@type"]
        if not isinstance(raw, str) or (raw.startswith("@") and raw not in _TYPE_KEYWORDS):
            raise invalid_context(f"term {term!r} has an invalid @type {raw!r}")
        if raw in _TYPE_KEYWORDS:
            return raw
        iri = self._expand_iri(raw, local, defined)
        if not _is_iri(iri):
            raise invalid_context(f"@type of term {term!r} is not an IRI")
        return iri

    def _expand_iri(
        self, value: str, local: dict[str, Any] | None, defined: dict[str, bool]
    ) -> str:
        """Vocabulary-relative IRI expansion while defining terms (API §5.2): terms of
        ``local`` are defined on demand, so definition order inside an object is free."""
        if value in _KEYWORDS or _KEYWORD_FORM.fullmatch(value):
            return value
        if local is not None and value in local:
            self._define(local, value, defined)
        definition = self._lookup(value)
        if definition is not None:
            return definition.iri
        colon = value.find(":", 1)
        if colon > 0:
            prefix, suffix = value[:colon], value[colon + 1 :]
            if prefix == "_" or suffix.startswith("//"):
                return value
            if local is not None and prefix in local and not prefix.startswith("@"):
                self._define(local, prefix, defined)
            pdef = self._lookup(prefix)
            if pdef is not None and pdef.prefix:
                return pdef.iri + suffix
            if has_scheme(value):
                return value
        return self._vocab() + value
