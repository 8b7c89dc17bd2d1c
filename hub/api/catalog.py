"""/catalog: the public data catalogue in DCAT-AP JSON-LD (docs/registry.md, "Catalogue").

Public like open data itself: describing a dataset reveals no entity. CKAN's DCAT harvester
(ckanext-dcat ``dcat_rdf_harvester``, format ``jsonld``) harvests ``/catalog``.
"""

from __future__ import annotations

from aiohttp import web

from hub import keys
from hub.api.common import dumps
from hub.errors import ResourceNotFound
from registry import RegistryRepository
from registry.catalog import CONTEXT, catalog, dataset_record

__all__ = ["routes"]

routes = web.RouteTableDef()
JSONLD = "application/ld+json"


def _base(request: web.Request) -> str:
    return str(request.url.origin())


@routes.get("/catalog")
async def get_catalog(request: web.Request) -> web.Response:
    repo = RegistryRepository(request.app[keys.POOL])
    doc = catalog(await repo.list_datasets(), await repo.list_organisations(), _base(request))
    return web.json_response(doc, content_type=JSONLD, dumps=dumps)


@routes.get("/catalog/datasets/{datasetId}")
async def get_catalog_dataset(request: web.Request) -> web.Response:
    repo = RegistryRepository(request.app[keys.POOL])
    ds = await repo.get_dataset(request.match_info["datasetId"])
    if ds is None:
        raise ResourceNotFound(f"dataset {request.match_info['datasetId']} is not registered")
    owner = await repo.get_organisation(ds.owner)
    record = dataset_record(ds, {owner.id: owner} if owner else {}, _base(request))
    return web.json_response({"@context": CONTEXT, **record}, content_type=JSONLD,
                             dumps=dumps)
