"""/registry/v1/*: the registry's management API (docs/registry.md, OpenAPI at
``/registry/v1/openapi.json``): organisations, datasets, adapter registrations and runs.

JSON in and out; every failure is NGSI-LD problem details through the hub's one error
hierarchy (``_errors`` maps the registry's own exceptions). Entity type names in a dataset
rule are expanded with the request's @context (a ``Link`` header, else the core context), so
the rule holds the same IRIs the entity writes produce.

Who may call what is the route table's (``hub/service/route_policy.py``): organisations,
datasets and the owner lookup are public like the catalogue; every write and every read of
adapter registrations and runs needs a ``manage`` token, and the registry service then
allows only the owner or the configured operator (``operator_organisations``). Secrets in
an adapter's config are never rendered (``registry/secrets.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from hub import keys
from hub.api.common import dumps, read_json, request_context
from hub.api.registry_openapi import openapi_document
from hub.errors import AlreadyExists, BadRequestData, Forbidden, ResourceNotFound
from hub.ngsild.checks import is_uri
from hub.service.admin import is_operator
from hub.store.ownership import count_owned
from registry import Conflict, Duplicate, Invalid, NotFound, RegistryError, RegistryRepository
from registry import service as svc
from registry.model import type_iri

__all__ = ["PREFIX", "routes"]

routes = web.RouteTableDef()
PREFIX = "/registry/v1"


@contextmanager
def _errors() -> Iterator[None]:
    """The registry's exceptions as the hub's NGSI-LD errors, in one place."""
    try:
        yield
    except NotFound as exc:
        raise ResourceNotFound(exc.detail) from exc
    except Duplicate as exc:
        raise AlreadyExists(exc.detail) from exc
    except svc.NotPermitted as exc:
        raise Forbidden(exc.detail) from exc
    except (Invalid, Conflict) as exc:
        raise BadRequestData(exc.detail) from exc
    except RegistryError as exc:  # a new subclass nobody mapped yet: still a client error
        raise BadRequestData(exc.detail) from exc


def _repo(request: web.Request) -> RegistryRepository:
    return RegistryRepository(request.app[keys.POOL])


async def _caller(request: web.Request) -> svc.Actor | None:
    """The calling organisation (the identity plug-in) and whether it is the configured
    operator; None when no identity is known (development mode)."""
    org = await request.app[keys.CALLER_ORGANISATION](request)
    if org is None:
        return None
    return svc.Actor(org, is_operator(request.app[keys.SETTINGS], org))


def _json(data: Any, status: int = 200, location: str | None = None) -> web.Response:
    resp = web.json_response(data, status=status, dumps=dumps)
    if location:
        resp.headers["Location"] = location
    return resp


async def _body(request: web.Request) -> Any:
    body, _media = await read_json(request)
    return body


async def _expand(request: web.Request) -> Any:
    return (await request_context(request)).active.expand


def _saved(record: Any, created: bool, path: str) -> web.Response:
    return _json(record.to_json(), 201 if created else 200, path if created else None)


async def _put(request: web.Request, put: Any, param: str, collection: str) -> web.Response:
    """PUT of an organisation or adapter: ``put(repo, id, body, caller)``."""
    body = await _body(request)
    with _errors():
        record, created = await put(_repo(request), request.match_info[param], body,
                                    await _caller(request))
    return _saved(record, created, f"{PREFIX}/{collection}/{record.id}")


async def _delete(request: web.Request, delete: Any, param: str) -> web.Response:
    with _errors():
        await delete(_repo(request), request.match_info[param], await _caller(request))
    return web.Response(status=204)


# -- organisations ------------------------------------------------------------------------

@routes.get(PREFIX + "/organisations")
async def list_organisations(request: web.Request) -> web.Response:
    kind = request.query.get("kind")
    if kind not in (None, "prefecture", "municipality", "private"):
        raise BadRequestData("kind must be prefecture, municipality or private")
    orgs = await _repo(request).list_organisations(kind)
    return _json([o.to_json() for o in orgs])


@routes.post(PREFIX + "/organisations")
async def create_organisation(request: web.Request) -> web.Response:
    body = await _body(request)
    with _errors():
        org = await svc.create_organisation(_repo(request), body, await _caller(request))
    request.app[keys.REGISTRY_RULES].invalidate()  # its default dataset is new
    return _json(org.to_json(), 201, f"{PREFIX}/organisations/{org.id}")


@routes.get(PREFIX + "/organisations/{orgId}")
async def get_organisation(request: web.Request) -> web.Response:
    with _errors():
        org = await svc.get_organisation(_repo(request), request.match_info["orgId"])
    return _json(org.to_json())


@routes.put(PREFIX + "/organisations/{orgId}")
async def put_organisation(request: web.Request) -> web.Response:
    resp = await _put(request, svc.put_organisation, "orgId", "organisations")
    request.app[keys.REGISTRY_RULES].invalidate()  # a new one has a new default dataset
    return resp


@routes.delete(PREFIX + "/organisations/{orgId}")
async def delete_organisation(request: web.Request) -> web.Response:
    pool = request.app[keys.POOL]

    async def owned(dataset_id: str) -> int:  # entities in its default dataset
        return await count_owned(pool, f"urn:ngsi-ld:Dataset:{dataset_id}")

    with _errors():
        await svc.delete_organisation(_repo(request), request.match_info["orgId"],
                                      await _caller(request), owned)
    request.app[keys.REGISTRY_RULES].invalidate()
    return web.Response(status=204)


# -- datasets -------------------------------------------------------------------------------

@routes.get(PREFIX + "/datasets")
async def list_datasets(request: web.Request) -> web.Response:
    datasets = await _repo(request).list_datasets(owner=request.query.get("owner"))
    return _json([d.to_json() for d in datasets])


@routes.post(PREFIX + "/datasets")
async def create_dataset(request: web.Request) -> web.Response:
    body = await _body(request)
    expand = await _expand(request)
    with _errors():
        ds = await svc.create_dataset(_repo(request), body, expand, await _caller(request))
    request.app[keys.REGISTRY_RULES].invalidate()  # this process at once; others by NOTIFY
    return _json(ds.to_json(), 201, f"{PREFIX}/datasets/{ds.id}")


@routes.get(PREFIX + "/datasets/{datasetId}")
async def get_dataset(request: web.Request) -> web.Response:
    with _errors():
        ds = await svc.get_dataset(_repo(request), request.match_info["datasetId"])
    return _json(ds.to_json())


@routes.put(PREFIX + "/datasets/{datasetId}")
async def put_dataset(request: web.Request) -> web.Response:
    body = await _body(request)
    expand = await _expand(request)
    with _errors():
        ds, created = await svc.put_dataset(_repo(request), request.match_info["datasetId"],
                                            body, expand, await _caller(request))
    request.app[keys.REGISTRY_RULES].invalidate()
    return _saved(ds, created, f"{PREFIX}/datasets/{ds.id}")


@routes.delete(PREFIX + "/datasets/{datasetId}")
async def delete_dataset(request: web.Request) -> web.Response:
    pool = request.app[keys.POOL]

    async def owned(dataset_id: str) -> int:
        return await count_owned(pool, f"urn:ngsi-ld:Dataset:{dataset_id}")

    with _errors():
        await svc.delete_dataset(_repo(request), request.match_info["datasetId"], owned,
                                 await _caller(request))
    request.app[keys.REGISTRY_RULES].invalidate()
    return web.Response(status=204)


@routes.get(PREFIX + "/owner")
async def owner_of_entity(request: web.Request) -> web.Response:
    """Which dataset would own an entity with this id and these types (the write rule)."""
    eid = request.query.get("id", "")
    names = [t for t in request.query.get("type", "").split(",") if t]
    if not is_uri(eid) or not names:
        raise BadRequestData("give id (a URI) and type (comma-separated entity types)")
    expand = await _expand(request)
    index = await request.app[keys.REGISTRY_RULES].current()
    caller = await _caller(request)
    with _errors():  # a new entity by the caller: its default dataset when no rule covers it
        types = [type_iri(t, expand) for t in names]  # as a rule's types are resolved
        ds = index.for_writer(eid, types, caller.organisation if caller else None)
    if ds is None:
        raise ResourceNotFound(f"no registered dataset owns an entity {eid} of {names}")
    return _json({"id": eid, "types": types, "dataset": ds.id, "owner": ds.owner})


# -- adapter registrations and runs ---------------------------------------------------------

async def _operating(repo: RegistryRepository, regs: list[Any]) -> list[dict[str, Any]]:
    """Registrations with their operating state (``nextRunAt``, ``consecutiveFailures``,
    ``lastRun``, ``backoffUntil``): the plan the adapter worker runs by
    (contracts/schedule.py), read from the worker's state in the registry's tables."""
    states = await repo.adapter_states([r.id for r in regs])
    now = datetime.now(UTC)
    return [{**r.to_json(), **(states[r.id].to_json(now) if r.id in states else {})}
            for r in regs]


@routes.get(PREFIX + "/adapters")
async def list_adapters(request: web.Request) -> web.Response:
    repo = _repo(request)
    regs = await svc.list_adapters(repo, await _caller(request),
                                   dataset=request.query.get("dataset"))
    return _json(await _operating(repo, regs))


@routes.post(PREFIX + "/adapters")
async def create_adapter(request: web.Request) -> web.Response:
    body = await _body(request)
    with _errors():
        reg = await svc.create_adapter(_repo(request), body, await _caller(request))
    return _json(reg.to_json(), 201, f"{PREFIX}/adapters/{reg.id}")


@routes.get(PREFIX + "/adapters/{adapterId}")
async def get_adapter(request: web.Request) -> web.Response:
    repo = _repo(request)
    with _errors():
        reg = await svc.get_adapter(repo, request.match_info["adapterId"],
                                    await _caller(request))
    [shown] = await _operating(repo, [reg])
    last = await repo.list_runs(reg.id, 1)  # in full here: with its errors
    return _json({**shown, "lastRun": last[0].to_json() if last else None})


@routes.put(PREFIX + "/adapters/{adapterId}")
async def put_adapter(request: web.Request) -> web.Response:
    return await _put(request, svc.put_adapter, "adapterId", "adapters")


@routes.delete(PREFIX + "/adapters/{adapterId}")
async def delete_adapter(request: web.Request) -> web.Response:
    return await _delete(request, svc.delete_adapter, "adapterId")


@routes.get(PREFIX + "/adapters/{adapterId}/runs")
async def list_runs(request: web.Request) -> web.Response:
    raw = request.query.get("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise BadRequestData("limit must be a whole number from 1 to 1000")
    with _errors():
        runs = await svc.list_runs(_repo(request), request.match_info["adapterId"], int(raw),
                                   await _caller(request))
    return _json([r.to_json() for r in runs])


@routes.post(PREFIX + "/adapters/{adapterId}/runs")
async def record_run(request: web.Request) -> web.Response:
    body = await _body(request)
    with _errors():
        run = await svc.record_run(_repo(request), request.match_info["adapterId"], body,
                                   await _caller(request))
    return _json(run.to_json(), 201)


@routes.post(PREFIX + "/adapters/{adapterId}/run-now")
async def run_now(request: web.Request) -> web.Response:
    """Mark the registration due now; the adapter worker runs it on its next pass
    (docs/adapters.md "Running on a schedule"). 202: the run itself happens elsewhere."""
    adapter_id = request.match_info["adapterId"]
    with _errors():
        when = await svc.request_run(_repo(request), adapter_id, await _caller(request))
    return _json({"id": adapter_id, "runRequestedAt": when.isoformat()}, 202,
                 f"{PREFIX}/adapters/{adapter_id}/runs")


@routes.get(PREFIX + "/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return _json(openapi_document())
