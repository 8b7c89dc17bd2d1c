"""The interface between the distributed-operation engine and one kind of context source.

The engine (``hub.federation.forward``) decides *which* registrations a request concerns
and merges what they answer; a ``Source`` only knows how to talk to one kind of broker
(NGSI-LD in ``ld_source``, NGSI v2 in ``v2``). Everything crossing this boundary is already
expanded (full IRIs), so the engine never needs to know the source's ``@context`` and the
access filter sees remote entities exactly as it sees local ones.

A Source never creates its own HTTP session: the engine hands it the hub's egress-checked
session (hub/egress.py), so a registration cannot make the hub connect where a notification
could not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

__all__ = ["Source", "SourceAnswer", "SourceError", "SourceQuery", "SourceTarget"]


@dataclass(frozen=True, slots=True)
class SourceQuery:
    """What the hub asks one source for, already expanded (full IRIs)."""

    types: tuple[str, ...] = ()          # expanded type IRIs (any of)
    ids: tuple[str, ...] = ()
    id_pattern: str | None = None
    attrs: tuple[str, ...] = ()          # expanded attribute IRIs; () = all
    q: str | None = None                 # NGSI-LD q with attribute names as full IRIs, or None
    limit: int = 100
    offset: int = 0
    count: bool = False
    #: added by F2: an NGSI-LD scopeQ to forward as it is (scopes are not renamed)
    scope_q: str | None = None


@dataclass(slots=True)
class SourceAnswer:
    """One source's answer: normalized entities with every type/attribute name a full IRI."""

    entities: list[dict[str, Any]]
    total: int | None = None             # when count was asked and the source answered it


@dataclass(frozen=True, slots=True)
class SourceTarget:
    """Where and how to call one source: the registration's endpoint and the headers its
    owner configured (never the caller's credentials)."""

    endpoint: str                        # base URL as registered (without /ngsi-ld/v1 for LD;
                                         # the v2 root, e.g. http://orion:1026, for v2)
    headers: Mapping[str, str]           # credentials/headers configured for the registration
    tenant: str | None
    timeout: float                       # seconds for the whole call
    #: added by F2: the @context (a URL) the hub names its terms with towards an NGSI-LD
    #: source, and the active context that compacts the query and expands the answer
    #: (None: full IRIs and the core context)
    context_url: str | None = None
    active: Any = None
    #: a ``localOnly`` registration (5.2.9): the source is asked with ``local=true``
    local_only: bool = False


class Source(Protocol):
    """One kind of context source (NGSI-LD broker, NGSI v2 broker)."""

    async def query(self, http: aiohttp.ClientSession, target: SourceTarget,
                    q: SourceQuery) -> SourceAnswer: ...

    async def retrieve(self, http: aiohttp.ClientSession, target: SourceTarget,
                       entity_id: str, attrs: tuple[str, ...]) -> dict[str, Any] | None: ...

    async def types(self, http: aiohttp.ClientSession, target: SourceTarget) -> list[str]: ...

    async def attributes(self, http: aiohttp.ClientSession,
                         target: SourceTarget) -> list[str]: ...


class SourceError(Exception):
    """A source failed (timeout, refused connection, 5xx, unparsable answer); ``.status``
    (int | None) and ``.detail`` (str) say how."""

    def __init__(self, detail: str, status: int | None = None, *,
                 invalid: bool = False) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        #: (F2) the source answered, but with something that is no valid NGSI-LD answer
        self.invalid = invalid
