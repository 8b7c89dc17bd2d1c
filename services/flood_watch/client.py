"""The flood watch's only way into the hub: HTTP, as the prefecture's OAuth 2 client.

Client credentials (RFC 6749 4.4) at the hub's ``/oauth2/token``; the token is renewed
before it expires (``refresh_margin`` seconds ahead, or at a 401), so a service that runs
for days never sends a stale token. No database access, no hub internals.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from contracts import LINK_HEADER

__all__ = ["HubClient", "HubError"]

NGSI = "/ngsi-ld/v1"
PAGE = 1000


class HubError(RuntimeError):
    """The hub answered something other than success."""

    def __init__(self, status: int, body: str, what: str) -> None:
        super().__init__(f"{what}: {status} {body[:300]}")
        self.status = status


@dataclass
class HubClient:
    """A partner's view of a hub: base URL, client credentials, optional tenant/purpose."""

    session: aiohttp.ClientSession
    hub: str
    client_id: str | None = None
    client_secret: str | None = None
    tenant: str | None = None
    purpose: str | None = None
    refresh_margin: float = 30.0
    clock: Callable[[], float] = time.monotonic
    _token: str | None = field(default=None, init=False)
    _expires: float = field(default=0.0, init=False)
    tokens_fetched: int = field(default=0, init=False)

    async def _fresh_token(self) -> str | None:
        if self.client_id is None:
            return None  # a development-mode hub: no token
        if self._token is not None and self.clock() < self._expires - self.refresh_margin:
            return self._token
        basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        async with self.session.post(self.hub.rstrip("/") + "/oauth2/token",
                                     data={"grant_type": "client_credentials"},
                                     headers={"Authorization": f"Basic {basic}"}) as r:
            body = await r.json(content_type=None)
            if r.status != 200 or not isinstance(body, dict) or "access_token" not in body:
                raise HubError(r.status, str(body), "token endpoint refused the client")
        self._token = str(body["access_token"])
        self._expires = self.clock() + float(body.get("expires_in", 300))
        self.tokens_fetched += 1
        return self._token

    async def _headers(self, extra: dict[str, str]) -> dict[str, str]:
        headers = {"Accept": "application/json", **extra}
        token = await self._fresh_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if self.tenant:
            headers["NGSILD-Tenant"] = self.tenant
        if self.purpose:
            headers["Renkei-Purpose"] = self.purpose
        return headers

    async def request(self, method: str, path: str, *, params: dict[str, str] | None = None,
                      json: Any = None, ok: tuple[int, ...] = (200,),
                      link: bool = True) -> tuple[int, Any]:
        """One call; a 401 is retried once with a new token (it may have been revoked or
        the clocks disagree). Answers (status, parsed body or None)."""
        extra = {"Link": LINK_HEADER} if link else {}
        if json is not None:
            extra["Content-Type"] = "application/json"
        for attempt in (0, 1):
            headers = await self._headers(extra)
            async with self.session.request(method, self.hub.rstrip("/") + path,
                                            params=params, json=json, headers=headers) as r:
                text = await r.text()
                if r.status == 401 and attempt == 0 and self.client_id is not None:
                    self._token = None
                    continue
                if r.status not in ok:
                    raise HubError(r.status, text, f"{method} {path}")
                return r.status, (orjson.loads(text) if text else None)
        raise AssertionError("unreachable")

    async def entities(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """Every entity a query matches (keyValues), page by page."""
        return await self._pages(NGSI + "/entities", {**params, "options": "keyValues"})

    async def temporal(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """Temporal representations (normalized instances with observedAt)."""
        return await self._pages(NGSI + "/temporal/entities", params)

    async def _pages(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """Every item of a paginated GET, ``PAGE`` at a time."""
        out: list[dict[str, Any]] = []
        offset = 0
        while True:
            _, page = await self.request("GET", path, params={
                **params, "limit": str(PAGE), "offset": str(offset)})
            out.extend(page)
            if len(page) < PAGE:
                return out
            offset += PAGE

    async def upsert(self, entities: list[dict[str, Any]]) -> None:
        """Batch upsert (replace) of normalized entities in the contracts' context."""
        await self.request("POST", NGSI + "/entityOperations/upsert", json=entities,
                           ok=(200, 201, 204))
