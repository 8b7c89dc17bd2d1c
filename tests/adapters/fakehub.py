"""A local aiohttp server answering like a hub's batch upsert, with faults on demand.

It stands in for the hub's HTTP answers only (the real hub's answers are in
test_e2e_hub.py and test_e2e_authz.py): from the ``fault_from``-th request on it answers
``fault`` — a whole-request 401/403/404/409/503, a 207 refusing the first entity of the
batch (409 ownership, 400 NoOwningDataset, 400 ContractsContextMissing), an HTML error
page, or no answer within the client's timeout — until ``recover()``; otherwise it stores
what it is sent, keyed by id (upsert replaces whole, as the hub does).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

__all__ = ["FAULTS", "FakeHub"]

_BASE = "https://uri.etsi.org/ngsi-ld/errors/"


def _problem(kind: str, status: int, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": _BASE + kind, "title": kind, "status": status, "detail": detail, **extra}


#: fault -> (status, body) of a whole request; 207 faults are built per batch
WHOLE: dict[str, tuple[int, dict[str, Any] | str]] = {
    "401": (401, _problem("Unauthorized", 401, "the bearer token is not valid")),
    "403-scope": (403, _problem("Forbidden", 403, "the token has no write scope")),
    "404-url": (404, "<html><body>404 Not Found</body></html>"),
    "409-whole": (409, _problem("AlreadyExists", 409, "entity id is already taken")),
    "503": (503, "<html><body>upstream down</body></html>"),
}
PER_ENTITY: dict[str, dict[str, Any]] = {
    "409-entity": _problem("AlreadyExists", 409, "entity id is already taken"),
    "400-no-owner": _problem("BadRequestData", 400, "matches no registered dataset",
                             reason="NoOwningDataset"),
    "400-context": _problem("BadRequestData", 400, "send the contracts @context",
                            reason="ContractsContextMissing"),
    "403-dataset": _problem("Forbidden", 403, "organisation 202037 may not write it",
                            dataset="other"),
}
FAULTS = (*WHOLE, *PER_ENTITY, "timeout")


class FakeHub:
    def __init__(self, fault: str, fault_from: int) -> None:
        self.fault: str | None = fault
        self.fault_from = fault_from
        self.calls = 0
        self.stored: dict[str, dict[str, Any]] = {}
        self.writes: list[str] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    def recover(self) -> None:
        self.fault = None

    async def __aenter__(self) -> FakeHub:
        app = web.Application()
        app.router.add_post("/ngsi-ld/v1/entityOperations/upsert", self._upsert)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _upsert(self, request: web.Request) -> web.StreamResponse:
        self.calls += 1
        entities: list[dict[str, Any]] = await request.json()
        fault = self.fault if self.calls >= self.fault_from else None
        if fault == "timeout":
            await asyncio.sleep(1)
        if fault in WHOLE:
            status, body = WHOLE[fault]
            if isinstance(body, str):
                return web.Response(status=status, text=body, content_type="text/html")
            return web.json_response(body, status=status)
        refused = {entities[0]["id"]} if fault in PER_ENTITY else set()
        for e in entities:
            if e["id"] not in refused:
                self.stored[e["id"]] = e
                self.writes.append(e["id"])
        if not refused:
            return web.Response(status=204)
        return web.json_response({
            "success": [e["id"] for e in entities if e["id"] not in refused],
            "errors": [{"entityId": i, "error": PER_ENTITY[fault or ""]} for i in refused]},
            status=207)
