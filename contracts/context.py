"""The contracts' JSON-LD ``@context`` document, served at ``CONTEXT_URL``.

Built from ``contracts.vocab.TERMS`` (every term every contract uses, core terms left to
the NGSI-LD core context). Plain ``"term": "IRI"`` definitions only, so any JSON-LD 1.1
processor (and the hub's subset) reads it the same way; ``@protected`` so a later context
cannot silently give a contract term another meaning.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from contracts.vocab import TERMS

__all__ = ["CONTEXT", "context_document"]

CONTEXT: Final[dict[str, Any]] = {
    "@version": 1.1,
    "@protected": True,
    **dict(sorted(TERMS.items())),
}


def context_document() -> dict[str, Any]:
    """A fresh ``{"@context": {...}}``: callers may decorate it without harm."""
    return {"@context": copy.deepcopy(CONTEXT)}
