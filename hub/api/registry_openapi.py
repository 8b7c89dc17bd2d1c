"""The registry's OpenAPI document (``/registry/v1/openapi.json``): the hub's one generated
document (``hub/api/openapi.py``) filtered to the registry's management API and the
catalogue, so the two can never disagree."""

from __future__ import annotations

from typing import Any

from hub.api.openapi import openapi_document as _whole

__all__ = ["openapi_document"]


def openapi_document() -> dict[str, Any]:
    """The paths under ``/registry/v1`` and ``/catalog``, with the schemas they use."""
    doc = _whole("/registry/v1", "/catalog")
    doc["info"]["title"] = "Renkei registry"
    doc["info"]["description"] = (
        "Organisations, datasets and ownership, adapter registrations and runs, and the "
        "DCAT-AP catalogue (docs/registry.md): part of /openapi.json. Organisations, "
        "datasets and the owner lookup are public; writes, adapter registrations and runs "
        "need a bearer token with the manage scope of the owner or the platform operator.")
    return doc
