"""A small NGSI v2 server for tests: the request and response shapes of the FIWARE NGSI v2
specification as Orion implements them (telefonicaid/fiware-orion doc/manuals/orion-api.md;
user/multitenancy.md and user/service_path.md for the headers).

What it follows, and where the shape is documented:

* ``POST /v2/entities`` (normalized or ``options=keyValues``): 201 with
  ``Location: /v2/entities/<id>?type=<type>``; a second entity with the same id and type in
  the same service path is ``422 {"error": "Unprocessable", "description": "Already
  Exists"}``; attribute types default as Orion's do (``Number``, ``Text``, ``Boolean``,
  ``StructuredValue``, ``None``), entity type ``Thing``; ``metadata`` default ``{}``.
* ``GET /v2/entities``: ``id``, ``type`` (comma lists), ``idPattern``, ``q`` (the Simple
  Query Language: ``;``-joined statements; unary ``attr`` / ``!attr``; ``==``, ``!=``,
  ``>``, ``>=``, ``<``, ``<=``, ``~=``; ranges ``a..b`` and lists ``a,b``; ``'quoted'``
  strings), ``attrs``, ``limit`` (default 20, 1 to 1000, else 400 BadRequest), ``offset``,
  ``options=count`` (``Fiware-Total-Count`` header) and ``keyValues``; entities in
  creation order, every attribute with ``type``, ``value`` and ``metadata``.
* ``GET /v2/entities/{id}``: ``type``, ``attrs``, ``options=keyValues``; 404 ``{"error":
  "NotFound", "description": "The requested entity has not been found. Check type and
  id"}``; 409 ``TooManyResults`` when the id exists with several types and no type is given.
* ``GET /v2/types``: ``[{"type", "attrs": {name: {"types": [...]}}, "count"}]``,
  ``options=values`` (names only) and ``count``, paginated like entities.
* ``Fiware-Service``: one isolated store per service (lower-cased; letters, digits, ``_``,
  at most 50, else 400); ``Fiware-ServicePath``: an entity belongs to the path it was
  created in (default ``/``); a query without the header means ``/#`` (everything), a path
  ``/a/#`` means ``/a`` and below, a comma list several paths.

Test knobs: ``fail_status`` (answer every request with that status and a v2 error body),
``html`` (answer 200 with an HTML page), ``delay`` (seconds before answering), and
``requests`` (what arrived: path, query, headers).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.integration.receiver import serve_local

__all__ = ["OrionV2Server", "Seen"]

_SERVICE = re.compile(r"[a-z0-9_]{1,50}")
_PATH = re.compile(r"/(?:[A-Za-z0-9_]{1,50}(?:/[A-Za-z0-9_]{1,50}){0,9})?")
_NOT_FOUND = "The requested entity has not been found. Check type and id"


@dataclass(slots=True)
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


def _error(status: int, error: str, description: str) -> web.Response:
    return web.Response(status=status, content_type="application/json",
                        body=orjson.dumps({"error": error, "description": description}))


def _json(data: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(content_type="application/json", body=orjson.dumps(data),
                        headers=headers)


def _default_type(value: Any) -> str:
    """Orion's attribute type when a create does not give one."""
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int | float):
        return "Number"
    if isinstance(value, str):
        return "Text"
    if value is None:
        return "None"
    return "StructuredValue"


class _BadRequest(Exception):
    pass


def _q_value(token: str) -> Any:
    token = token.strip()
    if len(token) >= 2 and token[0] == token[-1] == "'":
        return token[1:-1]
    if token in ("true", "false"):
        return token == "true"
    try:
        return float(token)
    except ValueError:
        return token


def _split(text: str, sep: str) -> list[str]:
    """Split outside single quotes."""
    parts, start, quoted = [], 0, False
    i = 0
    while i < len(text):
        if text[i] == "'":
            quoted = not quoted
        elif not quoted and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i + len(sep)
            i += len(sep) - 1
        i += 1
    parts.append(text[start:])
    return parts


def _comparable(a: Any, b: Any) -> bool:
    numeric = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    return (isinstance(a, numeric) and isinstance(b, numeric)) or (
        isinstance(a, str) and isinstance(b, str))


def _statement(stmt: str, entity: dict[str, Any]) -> bool:
    stmt = stmt.strip()
    m = re.fullmatch(r"(!?)([^=!<>~]+?)\s*(?:(==|!=|>=|<=|>|<|~=)(.*))?", stmt, re.DOTALL)
    if m is None:
        raise _BadRequest(f"invalid query expression: {stmt}")
    neg, name, op, raw = m.groups()
    attr = entity["attrs"].get(name.strip())
    if op is None:
        return (attr is None) if neg else (attr is not None)
    if neg:
        raise _BadRequest(f"invalid query expression: {stmt}")
    if attr is None:
        return False
    value = attr["value"]
    if op == "~=":
        return isinstance(value, str) and re.search(raw, value) is not None
    ranged = _split(raw, "..")
    if len(ranged) == 2:
        low, high = _q_value(ranged[0]), _q_value(ranged[1])
        inside = (_comparable(value, low) and _comparable(value, high)
                  and low <= value <= high)
        return inside if op == "==" else not inside
    options = [_q_value(v) for v in _split(raw, ",")]
    if op == "==":
        return any(_comparable(value, o) and value == o for o in options)
    if op == "!=":
        return all(not (_comparable(value, o) and value == o) for o in options)
    o = options[0]
    if not _comparable(value, o):
        return False
    return {">": value > o, ">=": value >= o, "<": value < o, "<=": value <= o}[op]


def _in_paths(path: str, header: str | None) -> bool:
    if header is None:
        return True  # queries without the header are on "/#"
    for wanted in (p.strip() for p in header.split(",")):
        if wanted.endswith("/#"):
            base = wanted[:-2].rstrip("/")
            if path == (base or "/") or path.startswith(base + "/"):
                return True
        elif path == (wanted.rstrip("/") or "/"):
            return True
    return False


@dataclass
class OrionV2Server:
    """The test server; ``start()`` binds a free port on 127.0.0.1."""

    stores: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    fail_status: int | None = None
    html: bool = False
    delay: float = 0.0
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application(middlewares=[self._knobs])
        app.router.add_post("/v2/entities", self._create)
        app.router.add_get("/v2/entities", self._list)
        app.router.add_get("/v2/entities/{id}", self._one)
        app.router.add_get("/v2/types", self._types)
        self._runner, self.port = await serve_local(app)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- plumbing --------------------------------------------------------------------------

    @web.middleware
    async def _knobs(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(Seen(request.path, dict(request.query), dict(request.headers)))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_status is not None:
            return _error(self.fail_status, "InternalServerError", "database is down")
        if self.html:
            return web.Response(text="<html><body>Bad Gateway</body></html>",
                                content_type="text/html")
        try:
            return await handler(request)
        except _BadRequest as exc:
            return _error(400, "BadRequest", str(exc))

    def _store(self, request: web.Request) -> list[dict[str, Any]]:
        service = request.headers.get("Fiware-Service", "").lower()
        if service and not _SERVICE.fullmatch(service):
            raise _BadRequest(f"bad character in tenant name: {service}")
        return self.stores.setdefault(service, [])

    def add(self, entity: dict[str, Any], *, service: str = "", path: str = "/") -> None:
        """Store a normalized v2 entity directly (as a create would)."""
        self.stores.setdefault(service, []).append(self._normalized(entity, path))

    @staticmethod
    def _normalized(body: Any, path: str, key_values: bool = False) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            raise _BadRequest("entity id is missing")
        attrs: dict[str, Any] = {}
        for name, raw in body.items():
            if name in ("id", "type"):
                continue
            if key_values:
                raw = {"value": raw}
            if not isinstance(raw, dict) or "value" not in raw:
                raise _BadRequest(f"attribute must be a JSON object: {name}")
            attrs[name] = {"type": raw.get("type") or _default_type(raw["value"]),
                           "value": raw["value"], "metadata": raw.get("metadata") or {}}
        return {"id": body["id"], "type": body.get("type") or "Thing",
                "servicePath": path, "attrs": attrs}

    @staticmethod
    def _render(entity: dict[str, Any], attrs: list[str] | None, key_values: bool
                ) -> dict[str, Any]:
        out: dict[str, Any] = {"id": entity["id"], "type": entity["type"]}
        for name, attr in entity["attrs"].items():
            if attrs is not None and name not in attrs:
                continue
            out[name] = attr["value"] if key_values else dict(attr)
        return out

    @staticmethod
    def _page(request: web.Request) -> tuple[int, int]:
        try:
            limit = int(request.query.get("limit", "20"))
            offset = int(request.query.get("offset", "0"))
        except ValueError:
            raise _BadRequest("Bad pagination limit or offset") from None
        if limit < 1 or limit > 1000:
            raise _BadRequest(f"Bad pagination limit: /{limit}/ [max: 1000]")
        if offset < 0:
            raise _BadRequest(f"Bad pagination offset: /{offset}/")
        return limit, offset

    # -- handlers --------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.Response:
        options = request.query.get("options", "").split(",")
        path = request.headers.get("Fiware-ServicePath", "/")
        if not _PATH.fullmatch(path.rstrip("/") or "/"):
            raise _BadRequest(f"bad service path: {path}")
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _error(400, "ParseError", "Errors found in incoming JSON buffer")
        entity = self._normalized(body, path.rstrip("/") or "/", "keyValues" in options)
        store = self._store(request)
        if any(e["id"] == entity["id"] and e["type"] == entity["type"]
               and e["servicePath"] == entity["servicePath"] for e in store):
            return _error(422, "Unprocessable", "Already Exists")
        store.append(entity)
        location = f"/v2/entities/{entity['id']}?type={entity['type']}"
        return web.Response(status=201, headers={"Location": location})

    def _select(self, request: web.Request) -> list[dict[str, Any]]:
        query = request.query
        header = request.headers.get("Fiware-ServicePath")
        ids = set(query["id"].split(",")) if "id" in query else None
        types = set(query["type"].split(",")) if "type" in query else None
        pattern = re.compile(query["idPattern"]) if "idPattern" in query else None
        statements = _split(query["q"], ";") if "q" in query else []
        out = []
        for e in self._store(request):
            if not _in_paths(e["servicePath"], header):
                continue
            if ids is not None and e["id"] not in ids:
                continue
            if types is not None and e["type"] not in types:
                continue
            if pattern is not None and not pattern.search(e["id"]):
                continue
            if all(_statement(s, e) for s in statements):
                out.append(e)
        return out

    async def _list(self, request: web.Request) -> web.Response:
        limit, offset = self._page(request)
        options = request.query.get("options", "").split(",")
        attrs = request.query["attrs"].split(",") if "attrs" in request.query else None
        found = self._select(request)
        page = [self._render(e, attrs, "keyValues" in options)
                for e in found[offset:offset + limit]]
        headers = {"Fiware-Total-Count": str(len(found))} if "count" in options else None
        return _json(page, headers)

    async def _one(self, request: web.Request) -> web.Response:
        entity_id = request.match_info["id"]
        options = request.query.get("options", "").split(",")
        attrs = request.query["attrs"].split(",") if "attrs" in request.query else None
        wanted = request.query.get("type")
        header = request.headers.get("Fiware-ServicePath")
        found = [e for e in self._store(request)
                 if e["id"] == entity_id and _in_paths(e["servicePath"], header)
                 and (wanted is None or e["type"] == wanted)]
        if not found:
            return _error(404, "NotFound", _NOT_FOUND)
        if len(found) > 1:
            return _error(409, "TooManyResults",
                          "More than one matching entity. Please refine your query")
        return _json(self._render(found[0], attrs, "keyValues" in options))

    async def _types(self, request: web.Request) -> web.Response:
        limit, offset = self._page(request)
        options = request.query.get("options", "").split(",")
        header = request.headers.get("Fiware-ServicePath")
        summary: dict[str, dict[str, Any]] = {}
        for e in self._store(request):
            if not _in_paths(e["servicePath"], header):
                continue
            entry = summary.setdefault(e["type"], {"type": e["type"], "attrs": {}, "count": 0})
            entry["count"] += 1
            for name, attr in e["attrs"].items():
                types = entry["attrs"].setdefault(name, {"types": []})["types"]
                if attr["type"] not in types:
                    types.append(attr["type"])
        entries = [summary[t] for t in sorted(summary)]
        page: list[Any] = entries[offset:offset + limit]
        if "values" in options:
            page = [e["type"] for e in page]
        headers = {"Fiware-Total-Count": str(len(entries))} if "count" in options else None
        return _json(page, headers)
