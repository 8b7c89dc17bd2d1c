"""@context documents the hub has built in besides the core: never fetched over the network.

The contracts' @context (``contracts.CONTEXT_URL``) is named in ``Link`` headers by every
adapter; a hub that had to download it would depend on a host that need not exist. A
built-in document is processed exactly like a fetched one (it is a normal, not an implicit,
context: it applies where the request names it), only its source differs.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Final

from contracts import CONTEXT_URL, context_document

__all__ = ["BUILTIN_DOCUMENTS", "builtin_document"]

BUILTIN_DOCUMENTS: Final = MappingProxyType({CONTEXT_URL: context_document()})
"""URL -> parsed document. Read-only: the context processor only reads documents."""


def builtin_document(url: str) -> Any | None:
    """The built-in document named by ``url``, or None if the URL must be loaded."""
    return BUILTIN_DOCUMENTS.get(url)
