"""The generated OpenAPI document (hub/api/openapi.py) describes every route the hub
serves, as the route table says, and its request schemas are the ones the handlers
validate with — so neither can drift from the app."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

from authz.model import SCOPES
from hub.api.openapi import OPS, openapi_document
from hub.api.params import ALLOWED
from hub.api.registry_openapi import openapi_document as registry_document
from hub.app import create_app
from hub.service.route_policy import ROUTES
from hub.settings import Settings
from hub.subscriptions.model import FORMATS, TRIGGERS
from registry import Invalid
from registry.model import FREQUENCIES, LICENCES, RUN_STATUSES, organisation_from_json

DOC = openapi_document()
METHODS = ("get", "put", "post", "patch", "delete")


def _served() -> set[tuple[str, str]]:
    app = create_app(Settings(auth_mode="enforce"))
    out = set()
    for r in app.router.routes():
        if r.resource is None or r.method == "HEAD":
            continue
        path = r.resource.canonical
        out.add((path[:-1] if len(path) > 1 and path.endswith("/") else path,
                 r.method.lower()))
    return out


def test_every_route_the_app_serves_is_in_the_document() -> None:
    served = _served()
    assert len(served) > 60
    missing = sorted(f"{m.upper()} {p}" for p, m in served if m not in DOC["paths"].get(p, {}))
    assert not missing, f"routes the document does not describe: {missing}"
    described = {(p, m) for p, item in DOC["paths"].items() for m in item if m in METHODS}
    assert described == served, sorted(described ^ served)


@pytest.mark.parametrize("doc", [DOC, registry_document()], ids=["hub", "registry"])
def test_the_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    errors = [f"{list(e.instance_path)}: {e.message}"
              for e in OPENAPI_31_VALIDATOR.iter_errors(doc)]
    assert not errors
    assert all(jsonschema_rs.meta.is_valid(s) for s in doc["components"]["schemas"].values())


def test_every_route_has_a_summary_not_a_placeholder() -> None:
    undescribed = [f"{m} {p}" for p, ms in ROUTES.items() for m in ms if (p, m) not in OPS]
    assert not undescribed, f"add these to OPS in hub/api/openapi.py: {undescribed}"


def test_security_is_the_route_need() -> None:
    ops = DOC["paths"]
    assert ops["/openapi.json"]["get"]["security"] == []
    assert ops["/ngsi-ld/v1/entities"]["get"]["security"] == [{}, {"oauth2": ["read"]}]
    assert ops["/ngsi-ld/v1/entities"]["post"]["security"] == [{"oauth2": ["write"]}]
    assert ops["/ngsi-ld/v1/subscriptions"]["post"]["security"] == [{"oauth2": ["subscribe"]}]
    assert ops["/authz/v1/grants"]["post"]["security"] == [{"oauth2": ["manage"]}]
    for path, methods in ROUTES.items():
        for method, need in methods.items():
            assert ops[path][method.lower()]["x-renkei-need"] == need.value
    flows = DOC["components"]["securitySchemes"]["oauth2"]["flows"]
    assert set(flows["clientCredentials"]["scopes"]) == set(SCOPES)


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        own = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return own.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


@pytest.mark.parametrize("doc", [DOC, registry_document()], ids=["hub", "registry"])
def test_every_reference_resolves(doc: dict[str, Any]) -> None:
    names = {r.rsplit("/", 1)[1] for r in _refs(doc)}
    assert names and names <= set(doc["components"]["schemas"])


def test_registry_document_is_the_registry_part_of_the_whole() -> None:
    reg = registry_document()
    assert reg["paths"] and all(p.startswith(("/registry/v1", "/catalog")) for p in reg["paths"])
    for path, item in reg["paths"].items():
        assert item == DOC["paths"][path]


def test_ngsi_parameters_are_the_ones_the_handlers_take() -> None:
    query = DOC["paths"]["/ngsi-ld/v1/entities"]["get"]["parameters"]
    assert {p["name"] for p in query if p["in"] == "query"} == ALLOWED["query"]
    temporal = DOC["paths"]["/ngsi-ld/v1/temporal/entities"]["get"]["parameters"]
    assert {p["name"] for p in temporal if p["in"] == "query"} == ALLOWED["temporal_query"]
    item = DOC["paths"]["/ngsi-ld/v1/entities/{entityId}/attrs/{attrId}"]
    assert [p["name"] for p in item["parameters"]] == ["entityId", "attrId"]


def test_schemas_agree_with_the_domain_rules() -> None:
    """The enums the document publishes are the domain's own lists."""
    s = DOC["components"]["schemas"]
    assert set(s["DatasetBody"]["properties"]["licence"]["enum"]) == set(LICENCES)
    assert set(s["DatasetBody"]["properties"]["updateFrequency"]["enum"]) == set(FREQUENCIES)
    assert set(s["RunBody"]["properties"]["status"]["enum"]) == set(RUN_STATUSES)
    assert set(s["DatasetBody"]["required"]) == {"owner", "name", "rule", "licence",
                                                 "updateFrequency"}
    fmt = s["NotificationParams"]["properties"]["format"]["anyOf"][0]["enum"]
    assert set(fmt) == set(FORMATS)
    trig = s["SubscriptionPatch"]["properties"]["notificationTrigger"]["anyOf"][0]
    assert set(trig["items"]["enum"]) == set(TRIGGERS)
    assert DOC["paths"]["/registry/v1/datasets"]["post"]["requestBody"]["content"][
        "application/json"]["schema"] == {"$ref": "#/components/schemas/DatasetBody"}


def test_bodies_are_validated_by_the_published_models() -> None:
    """The parser's own message wins when it refuses; the model refuses what the parser
    alone would have let through (a createdAt that is not a string)."""
    with pytest.raises(Invalid, match="unknown member"):
        organisation_from_json({"id": "200000", "name": {"ja": "x"}, "bogus": 1})
    with pytest.raises(Invalid, match="createdAt"):
        organisation_from_json({"id": "200000", "name": {"ja": "長野県"}, "createdAt": 5})
    org = organisation_from_json({"id": "200000", "name": {"ja": "長野県"}})
    assert org.id == "200000"
