"""Forwarded writes (GS CIM 009 4.3.6.2-4.3.6.4, 5.6): create, update, append, merge,
replace and delete of entities and attributes, sent to the sources whose registrations
cover the entity (id, types) and attributes and whose ``operations`` allow the operation.

The registration's mode says where the data goes: **inclusive** — the hub writes it and the
source gets it too; **exclusive** and **redirect** — the attributes the registration names
(all of them when it names none) go to the source only, so the hub's own write keeps the
rest (redirect with no attribute names: nothing stays here); **auxiliary** registrations
never receive writes. The caller's body is forwarded as sent (its ``@context`` or its
``Link``), cut to the registration's attributes for exclusive/redirect ones, with the
registration's headers and ``Via`` — never the caller's credentials. A write that would be
forwarded while ``Via`` already names this hub is a loop: 508.

A source that fails does not undo the hub's part: the handler answers 207 with the
failed sources in ``notUpdated`` (hub/api/entities.py, attributes.py).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp import web

from hub import keys
from hub.errors import NgsiLdError, ResourceNotFound
from hub.federation.forward import (
    Failure,
    LoopDetected,
    Registration,
    federation_of,
)
from hub.federation.ld_source import call
from hub.federation.sources import SourceError

__all__ = ["Conflict", "SourceFailed", "WriteOutcome", "entity_path", "failed_sources",
           "forward_attribute", "forward_batch", "forward_batch_delete", "forward_purge",
           "forward_write", "partial"]

_BODY_CORE = frozenset({"id", "@id", "type", "@type", "@context", "scope"})


@dataclass(slots=True)
class WriteOutcome:
    """What the local write must still do, and which sources failed."""

    #: attribute IRIs the sources own: leave them out of the local write
    strip: set[str] = field(default_factory=set)
    #: nothing of the entity is held here (a redirect / exclusive registration of all of it)
    skip_local: bool = False
    failures: list[Failure] = field(default_factory=list)
    forwarded: int = 0
    #: an exclusive or redirect registration took the write (the data lives at a source)
    proxied: bool = False
    #: the errors of sources that answered 207 (part of their own write failed)
    source_errors: list[dict[str, Any]] = field(default_factory=list)

    def owns(self, iri: str) -> bool:
        """Whether the sources hold ``iri`` alone (nothing of it is written here)."""
        return self.skip_local or iri in self.strip



def entity_path(entity_id: str, suffix: str = "") -> str:
    """The source-relative path of an entity (or of one of its members)."""
    return "/entities/" + quote(entity_id, safe=":") + suffix


def _cut_body(body: Any, owned: frozenset[str] | None, expand: Any) -> Any:
    if owned is None or not isinstance(body, dict):
        return body
    return {k: v for k, v in body.items() if k in _BODY_CORE or expand(k) in owned}


async def forward_write(
    request: web.Request, rc: Any, schema: str, op: str, entity_id: str | None,
    types: Iterable[str], attrs: Iterable[str], *, method: str, path: str,
    body: Any = None, params: dict[str, str] | None = None,
) -> WriteOutcome:
    """Forward one write to the matching sources; what the local write must leave out."""
    out = WriteOutcome()
    fed = federation_of(request.app)
    if not fed.enabled or request.query.get("local") == "true":
        return out
    types, attrs = tuple(types), tuple(attrs)
    if "options" in request.query:
        params = {**(params or {}), "options": request.query["options"]}
    concerned = [r for r in await fed.write_registrations(request, schema)
                 if r.mode != "auxiliary"
                 and r.infos(entity_id, types, attrs if op not in ("createEntity",
                                                                  "deleteEntity") else ())]
    regs = [r for r in concerned if r.allows(op)]
    if not regs:
        # 5.6.1.4 and its siblings: the whole entity lives behind a redirect registration
        # whose source does not offer the operation: nowhere to do it
        if any(r.mode == "redirect" and r.owned_attrs(entity_id, types) is None
               for r in concerned):
            raise Conflict(f"the context source registered for {entity_id} (redirect) does "
                           f"not support {op}")
        return out
    if fed.via_names_me(request):
        fed.stats.loops += 1
        raise LoopDetected("the request already passed through this broker (Via)")
    expand = rc.active.expand if rc is not None else (lambda n: n)
    ctx_url = rc.raw if rc is not None and isinstance(rc.raw, str) else None
    sends: list[tuple[Registration, Any]] = []
    for reg in regs:
        owned = reg.owned_attrs(entity_id, types) if reg.mode in ("exclusive",
                                                                   "redirect") else None
        if reg.mode in ("exclusive", "redirect"):
            out.proxied = True
            if owned is None:
                out.skip_local = True
            else:
                out.strip |= owned
        sends.append((reg, _cut_body(body, owned, expand)))

    async def send(reg: Registration, payload: Any) -> int:
        target = fed.target(request, reg, ctx_url, None)
        status, answer, _ = await call(request.app[keys.HTTP], target, method,
                                       path, params=params,
                                       body=payload)
        if status >= 400:
            detail = answer.get("detail") if isinstance(answer, dict) else None
            raise SourceError(f"the source answered {status}"
                              + (f": {detail}" if detail else ""), status)
        if status == 207:
            out.source_errors.extend(_source_errors(reg, entity_id, answer))
        return status

    results = await asyncio.gather(
        *(fed.guarded(reg, functools.partial(send, reg, payload)) for reg, payload in sends))
    for res in results:
        if isinstance(res, Failure):
            out.failures.append(res)
        else:
            out.forwarded += 1
    return out


def _source_errors(reg: Registration, entity_id: str | None,
                   answer: Any) -> list[dict[str, Any]]:
    """The errors of a source's 207 answer (its BatchOperationResult), each naming the
    registration; one generic entry when the answer carries none the hub can read."""
    found = answer.get("errors") if isinstance(answer, dict) else None
    out: list[dict[str, Any]] = []
    for err in found if isinstance(found, list) else []:
        problem = err.get("error") if isinstance(err, dict) else None
        if isinstance(problem, dict) and isinstance(problem.get("status"), int):
            out.append({"entityId": entity_id, "registrationId": reg.id,
                        "error": {k: problem[k] for k in ("type", "title", "status",
                                                          "detail") if k in problem}})
    return out or [{"entityId": entity_id, "registrationId": reg.id,
                    "error": {"type": "https://uri.etsi.org/ngsi-ld/errors/InternalError",
                              "title": "Context source failed", "status": 500,
                              "detail": "the context source did only part of the write"}}]


def partial(out: WriteOutcome, entity_id: str,
            local_error: NgsiLdError | None = None) -> web.Response | None:
    """The answer when a part of a distributed write failed: 207 with a
    BatchOperationResult (5.2.16) naming the hub's own failure (``local_error``) and each
    failed source; None when nothing failed (answer as usual). A local failure when no
    source was asked is raised as it is. A local *not found* once a source took the write is no
    failure when the data lives at that source: an exclusive or redirect registration
    took it (4.3.6.3), or the entity is here and only the attribute is at the source. An
    inclusive registration shares the entity with the hub, so an entity missing here is
    reported (4.3.6.2: 207 with the local 404). A source answering 207 passes its errors
    on."""
    if local_error is not None and not out.forwarded and not out.failures:
        raise local_error
    if isinstance(local_error, ResourceNotFound) and out.forwarded and (
            out.proxied or local_error.detail != f"entity {entity_id} not found"):
        local_error = None
    errors: list[dict[str, Any]] = []
    if local_error is not None:
        errors.append({"entityId": entity_id, "error": local_error.to_problem()})
    for f in out.failures:
        errors.append({"entityId": entity_id, "registrationId": f.registration,
                       "error": {"type": "https://uri.etsi.org/ngsi-ld/errors/InternalError",
                                 "title": "Context source failed", "status": f.status or 504,
                                 "detail": f.detail}})
    errors.extend({**e, "entityId": entity_id} for e in out.source_errors)
    if not errors:
        return None
    import orjson
    ok = out.forwarded or (local_error is None and not out.skip_local)
    return web.Response(status=207, content_type="application/json", body=orjson.dumps(
        {"success": [entity_id] if ok else [], "errors": errors}))


async def forward_attribute(request: web.Request, rc: Any, schema: str, op: str,
                            entity_id: str, iri: str, *, method: str,
                            body: Any = None) -> WriteOutcome:
    """Forward a write of one attribute (``/entities/{id}/attrs/{attrId}``), with the
    attribute named as the caller named it and its query (datasetId, deleteAll) kept."""
    name = request.match_info["attrId"]
    params = {k: v for k, v in request.query.items() if k in ("datasetId", "deleteAll")}
    return await forward_write(request, rc, schema, op, entity_id, (), (iri,),
                               method=method,
                               path=entity_path(entity_id, "/attrs/" + quote(name, safe=":")),
                               body=body, params=params or None)


async def forward_batch(
    request: web.Request, rc: Any, schema: str, op: str, name: str, body: list[Any],
    docs: list[Any], fail: Callable[[str, NgsiLdError], None],
) -> tuple[list[Any], list[str]]:
    """Forward the entities of a batch (``docs``, parsed from ``body``) that registrations
    cover to ``/entityOperations/{name}`` of their sources, one request per registration.
    Returns the docs the hub still writes (attributes the sources own taken out, entities
    they hold alone left out) and the ids done by the sources alone; a failed source fails
    its entities (``fail``)."""
    fed = federation_of(request.app)
    if not fed.enabled or request.query.get("local") == "true" or not docs:
        return docs, []
    regs = [r for r in await fed.write_registrations(request, schema)
            if r.mode != "auxiliary" and r.allows(op)]
    if not regs:
        return docs, []
    if fed.via_names_me(request):
        fed.stats.loops += 1
        raise LoopDetected("the request already passed through this broker (Via)")
    raw_by_id = {b.get("id"): b for b in body if isinstance(b, dict)}
    expand = rc.active.expand
    sends: dict[str, tuple[Registration, list[Any], list[str]]] = {}
    keep: list[Any] = []
    remote_only: list[str] = []
    for doc in docs:
        strip: set[str] = set()
        alone = False
        for reg in regs:
            if not reg.infos(doc.id, doc.types):
                continue
            owned = reg.owned_attrs(doc.id, doc.types) if reg.mode in (
                "exclusive", "redirect") else None
            if reg.mode in ("exclusive", "redirect"):
                if owned is None:
                    alone = True
                else:
                    strip |= owned
            entry = sends.setdefault(reg.id, (reg, [], []))
            entry[1].append(_cut_body(raw_by_id.get(doc.id, {"id": doc.id}), owned, expand))
            entry[2].append(doc.id)
        if alone:
            remote_only.append(doc.id)
            continue
        doc.attrs = {k: v for k, v in doc.attrs.items() if k not in strip}
        keep.append(doc)
    ctx_url = rc.raw if isinstance(rc.raw, str) else None

    async def send(reg: Registration, payload: list[Any]) -> int:
        target = fed.target(request, reg, ctx_url, None)
        status, _answer, _ = await call(request.app[keys.HTTP], target, "POST",
                                       "/entityOperations/" + name, body=payload,
                                       params={k: v for k, v in request.query.items()
                                               if k == "options"} or None)
        if status >= 400:
            raise SourceError(f"the source answered {status}", status)
        return status

    results = await asyncio.gather(*(fed.guarded(reg, functools.partial(send, reg, payload))
                                     for reg, payload, _ids in sends.values()))
    failed: set[str] = set()
    for (_reg, _payload, ids), res in zip(sends.values(), results, strict=True):
        if isinstance(res, Failure):
            for eid in ids:
                if eid not in failed:
                    failed.add(eid)
                    fail(eid, SourceFailed(f"context source {res.registration} failed: "
                                           f"{res.detail}"))
    return keep, [i for i in remote_only if i not in failed]


#: the purge query parameters a source gets as the caller sent them (5.6.21, 6.4.3.3)
_PURGE_PARAMS = ("type", "id", "idPattern", "q", "scopeQ", "keep", "drop")


async def forward_purge(request: web.Request, rc: Any, schema: str) -> WriteOutcome:
    """Forward a purge (DELETE /entities?type=..., 5.6.21) to the sources registered for
    its types with ``purgeEntity``: the same selection, in the caller's terms and
    ``@context``. The hub purges its own entities whatever the sources answer."""
    types = [rc.active.expand(t.strip())
             for t in request.query.get("type", "").replace("|", ",").split(",")
             if t.strip() and not any(c in t for c in ";()")]
    params = {k: v for k, v in request.query.items() if k in _PURGE_PARAMS}
    return await forward_write(request, rc, schema, "purgeEntity", None, types, (),
                               method="DELETE", path="/entities", params=params or None)


def failed_sources(out: WriteOutcome) -> web.Response | None:
    """207 naming each source that failed a write with no single entity (a purge), or
    None when none failed."""
    if not out.failures:
        return None
    import orjson
    errors = [{"registrationId": f.registration,
               "error": {"type": "https://uri.etsi.org/ngsi-ld/errors/InternalError",
                         "title": "Context source failed", "status": f.status or 504,
                         "detail": f.detail}} for f in out.failures]
    return web.Response(status=207, content_type="application/json",
                        body=orjson.dumps({"success": [], "errors": errors}))


class Conflict(NgsiLdError):
    """The operation conflicts with a registration (5.6.1.4: a redirect registration whose
    source does not support it)."""

    problem_type = "https://uri.etsi.org/ngsi-ld/errors/Conflict"
    status = 409
    title = "Conflict"


class SourceFailed(NgsiLdError):
    """A context source the write was forwarded to failed (reported per entity, 207)."""

    problem_type = "https://uri.etsi.org/ngsi-ld/errors/InternalError"
    status = 502
    title = "Context source failed"


async def forward_batch_delete(request: web.Request, schema: str, ids: list[str],
                               fail: Callable[[str, NgsiLdError], None]) -> list[str]:
    """Forward a batch delete to the sources covering its ids; the ids they hold alone
    (redirect, or exclusive of the whole entity), which the hub does not delete itself."""
    fed = federation_of(request.app)
    if not fed.enabled or request.query.get("local") == "true" or not ids:
        return []
    regs = [r for r in await fed.write_registrations(request, schema)
            if r.mode != "auxiliary" and r.allows("deleteBatch")]
    sends: dict[str, tuple[Registration, list[str]]] = {}
    alone: list[str] = []
    for eid in ids:
        for reg in regs:
            if reg.infos(eid, ()):
                sends.setdefault(reg.id, (reg, []))[1].append(eid)
                if reg.mode == "redirect" or (reg.mode == "exclusive"
                                              and reg.owned_attrs(eid, ()) is None):
                    alone.append(eid)
    if not sends:
        return []
    if fed.via_names_me(request):
        raise LoopDetected("the request already passed through this broker (Via)")

    async def send(reg: Registration, payload: list[str]) -> int:
        target = fed.target(request, reg, None, None)
        status, _answer, _ = await call(request.app[keys.HTTP], target, "POST",
                                        "/entityOperations/delete", body=payload)
        if status >= 400:
            raise SourceError(f"the source answered {status}", status)
        return status

    results = await asyncio.gather(*(fed.guarded(reg, functools.partial(send, reg, payload))
                                     for reg, payload in sends.values()))
    failed: set[str] = set()
    for (_reg, payload), res in zip(sends.values(), results, strict=True):
        if isinstance(res, Failure):
            for eid in payload:
                if eid not in failed:
                    failed.add(eid)
                    fail(eid, SourceFailed(f"context source {res.registration} failed: "
                                           f"{res.detail}"))
    return [i for i in dict.fromkeys(alone) if i not in failed]
