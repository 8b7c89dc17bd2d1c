"""/catalog: the public data catalogue in DCAT-AP 3 (docs/registry.md, "Catalogue").

Public like open data itself: describing a dataset reveals no entity. CKAN's DCAT harvester
(ckanext-dcat ``dcat_rdf_harvester``) harvests ``/catalog``. JSON-LD by default; Turtle
and RDF/XML by content negotiation (``Accept``), serialised by rdflib from the same
document. Every ``@id`` is built from the configured public URL (``public_url``, else the
OAuth ``issuer``, else the listen address), never from the request's Host header, which
any client sets and a proxy rewrites.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub import keys
from hub.errors import NotAcceptable, ResourceNotFound
from hub.service.oauth import issuer_of
from hub.settings import Settings
from registry import RegistryRepository
from registry.catalog import CONTEXT, FORMATS, catalog, dataset_record, serialise

__all__ = ["public_base", "routes"]

routes = web.RouteTableDef()
JSONLD = "application/ld+json"
#: what else a client may ask for and gets JSON-LD: JSON itself and anything
_AS_JSONLD = ("application/json", "application/*", "*/*")


def public_base(settings: Settings) -> str:
    """The hub's public base URL, with no trailing slash: ``public_url``, else the OAuth
    issuer's (which falls back to the listen address)."""
    return (settings.public_url or issuer_of(settings)).rstrip("/")


def _media(request: web.Request) -> str:
    """The serialisation ``Accept`` prefers (q-values honoured, ties in the client's
    order); JSON-LD when there is no header; 406 when nothing offered is acceptable."""
    header = request.headers.get("Accept", "").strip()
    if not header:
        return JSONLD
    best, best_q = None, 0.0
    for part in header.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for p in params:
            name, _, value = p.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.lower()
        offered = media if media in FORMATS else JSONLD if media in _AS_JSONLD else None
        if offered is not None and q > best_q:
            best, best_q = offered, q
    if best is None:
        raise NotAcceptable(f"the catalogue is served as {', '.join(FORMATS)}")
    return best


def _answer(request: web.Request, doc: dict[str, Any]) -> web.Response:
    media = _media(request)
    resp = web.Response(body=serialise(doc, media), content_type=media, charset="utf-8")
    resp.headers["Vary"] = "Accept"
    return resp


@routes.get("/catalog")
async def get_catalog(request: web.Request) -> web.Response:
    repo = RegistryRepository(request.app[keys.POOL])
    doc = catalog(await repo.list_datasets(), await repo.list_organisations(),
                  public_base(request.app[keys.SETTINGS]))
    return _answer(request, doc)


@routes.get("/catalog/datasets/{datasetId}")
async def get_catalog_dataset(request: web.Request) -> web.Response:
    repo = RegistryRepository(request.app[keys.POOL])
    ds = await repo.get_dataset(request.match_info["datasetId"])
    if ds is None:
        raise ResourceNotFound(f"dataset {request.match_info['datasetId']} is not registered")
    owner = await repo.get_organisation(ds.owner)
    record = dataset_record(ds, {owner.id: owner} if owner else {},
                            public_base(request.app[keys.SETTINGS]))
    return _answer(request, {"@context": CONTEXT, **record})
