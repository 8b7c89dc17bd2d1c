"""The DCAT-AP 3 catalogue over HTTP: JSON-LD, Turtle and RDF/XML by content negotiation,
the same triples in all three, valid against Renkei's own SHACL shapes
(registry/shapes/dcat-ap-3-renkei.ttl, pyshacl), @ids from the configured public URL
whatever the Host header says, and a broken catalogue failing the shapes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pyshacl import validate
from rdflib import RDF, Graph, Namespace, URIRef
from rdflib.compare import isomorphic

from hub.settings import Settings
from tests.conftest import CATCH_ALL, TEST_PREFECTURE
from tests.integration.helpers import JSON, assert_problem
from tests.integration.registry_helpers import REG, dataset

#: rdflib 7's JSON-LD parser still builds its graph through its own deprecated API
pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated")

SHAPES = Path(__file__).parents[2] / "registry/shapes/dcat-ap-3-renkei.ttl"
PUBLIC = "https://data.pref.nagano.example"
DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCT = Namespace("http://purl.org/dc/terms/")
SH = Namespace("http://www.w3.org/ns/shacl#")
EU = "http://publications.europa.eu/resource/authority/"
RDF_FORMATS = {"application/ld+json": "json-ld", "text/turtle": "turtle",
               "application/rdf+xml": "xml"}


@pytest.fixture
def settings(database_url: str) -> Settings:
    # the public URL ends in a slash as people write it; @ids never get a double one
    return Settings(database_url=database_url, auth_mode="dev", public_url=PUBLIC + "/")


async def _registry(client: TestClient) -> None:
    assert (await client.delete(f"{REG}/datasets/{CATCH_ALL}")).status == 204
    for org_id, name, contact in (
            (TEST_PREFECTURE, "テスト県", "opendata@pref.test.lg.jp"),  # the operator
            ("202011", "長野市", "https://www.city.nagano.nagano.jp/contact"),
            ("202037", "上田市", None)):
        body: dict[str, Any] = {"name": {"ja": name}, "url": "https://example.jp/" + org_id}
        if contact:
            body["contact"] = contact
        resp = await client.put(f"{REG}/organisations/{org_id}", headers=JSON, json=body)
        assert resp.status in (200, 201), await resp.text()
    for ds in (
            dataset("nagano-weather", "202011", ["WeatherObserved"],
                    ["urn:ngsi-ld:WeatherObserved:nagano-"], contracts=["WeatherObserved"],
                    keywords=["気象", "雨量"], contact="kisho@city.nagano.example",
                    source="https://www.jma.go.jp/bosai/amedas/"),
            dataset("ueda-traffic", "202037", ["TrafficFlowObserved"],
                    ["urn:ngsi-ld:TrafficFlowObserved:ueda-"],
                    contracts=["TrafficFlowObserved"], keywords=["交通量"],
                    source="上田市道路課の手集計"),  # not an IRI: provenance, not dct:source
    ):
        resp = await client.post(f"{REG}/datasets", headers=JSON, json=ds)
        assert resp.status == 201, await resp.text()


async def _get(client: TestClient, path: str, media: str) -> tuple[Graph, bytes]:
    # a forged Host: the @ids must not follow it
    resp = await client.get(path, headers={"Accept": media, "Host": "evil.example"})
    assert resp.status == 200, await resp.text()
    assert resp.content_type == media and resp.headers["Vary"] == "Accept"
    body = await resp.read()
    return Graph().parse(data=body.decode("utf-8"), format=RDF_FORMATS[media]), body


def _shapes() -> Graph:
    return Graph().parse(SHAPES, format="turtle")


def _results(report: Graph, severity: URIRef) -> set[tuple[str, str]]:
    """(focus node, path) of each result of the severity."""
    return {(str(report.value(r, SH.focusNode)), str(report.value(r, SH.resultPath)))
            for r in report.subjects(SH.resultSeverity, severity)}


async def test_the_catalogue_is_valid_dcat_ap_3_in_all_three_formats(
        client: TestClient) -> None:
    await _registry(client)
    graphs = {m: (await _get(client, "/catalog", m))[0] for m in RDF_FORMATS}
    ld = graphs["application/ld+json"]
    assert len(ld) > 100
    assert isomorphic(ld, graphs["text/turtle"]) and isomorphic(ld, graphs["application/rdf+xml"])
    shapes = _shapes()
    for media, graph in graphs.items():
        conforms, report, text = validate(graph, shacl_graph=shapes, allow_warnings=True)
        assert conforms, (media, text)
        assert not _results(report, SH.Violation), text
    # the recommended properties are there too, but for what the registry cannot know:
    # the period a dataset covers, a contact nobody registered (上田市 gave none), and for
    # a default dataset (private, no contract, no keywords) its themes, keywords and a
    # public licence
    _, report, _ = validate(ld, shacl_graph=shapes, allow_warnings=True)
    warned = _results(report, SH.Warning)
    weather = f"{PUBLIC}/catalog/datasets/nagano-weather"
    traffic = f"{PUBLIC}/catalog/datasets/ueda-traffic"
    defaults = f"{PUBLIC}/catalog/datasets/default-"
    assert {w for w in warned if not w[0].startswith(defaults)} == {
        (weather, str(DCT.temporal)), (traffic, str(DCT.temporal)),
        (traffic, str(DCAT.contactPoint))}
    assert {p for _, p in warned} <= {str(DCT.temporal), str(DCAT.contactPoint),
                                      str(DCAT.keyword), str(DCAT.theme), str(DCT.license)}


async def test_the_catalogue_says_what_dcat_ap_3_asks(client: TestClient) -> None:
    await _registry(client)
    g, _ = await _get(client, "/catalog", "text/turtle")
    cat = URIRef(f"{PUBLIC}/catalog")
    assert (cat, RDF.type, DCAT.Catalog) in g
    # every @id from the public URL, none from the Host header
    subjects = {str(s) for s in g.subjects() if isinstance(s, URIRef)}
    assert not [s for s in subjects if "evil.example" in s or "127.0.0.1" in s]
    assert str(g.value(cat, DCT.publisher)) == \
        f"{PUBLIC}/registry/v1/organisations/{TEST_PREFECTURE}"
    assert str(g.value(cat, DCT.license)) == "https://creativecommons.org/licenses/by/4.0/"
    assert str(g.value(cat, DCT.spatial)) == EU + "country/JPN"
    assert g.value(cat, DCT.issued) is not None and g.value(cat, DCT.modified) is not None
    assert g.value(cat, DCT.issued).toPython() <= g.value(cat, DCT.modified).toPython()
    point = g.value(cat, DCAT.contactPoint)
    assert str(g.value(point, URIRef("http://www.w3.org/2006/vcard/ns#hasEmail"))) == \
        "mailto:opendata@pref.test.lg.jp"
    weather = URIRef(f"{PUBLIC}/catalog/datasets/nagano-weather")
    traffic = URIRef(f"{PUBLIC}/catalog/datasets/ueda-traffic")
    assert set(map(str, g.objects(weather, DCAT.theme))) == {EU + "data-theme/ENVI"}
    assert set(map(str, g.objects(traffic, DCAT.theme))) == {EU + "data-theme/TRAN"}
    # dct:source a resource; a source that is not an IRI is provenance text instead
    assert g.value(weather, DCT.source) == URIRef("https://www.jma.go.jp/bosai/amedas/")
    assert g.value(traffic, DCT.source) is None and g.value(traffic, DCT.provenance)
    # a dataset without its own contact gets its owner's: 上田市 has none, so none
    assert g.value(weather, DCAT.contactPoint) is not None
    assert g.value(traffic, DCAT.contactPoint) is None
    dist = g.value(weather, DCAT.distribution)
    assert g.value(dist, DCT["format"]) == URIRef(EU + "file-type/JSON_LD")
    assert g.value(dist, DCAT.mediaType) == URIRef(
        "https://www.iana.org/assignments/media-types/application/ld+json")
    assert str(g.value(dist, DCAT.accessURL)).startswith(f"{PUBLIC}/ngsi-ld/v1/entities?q=")
    # one dataset alone, as Turtle too, with the same @id
    one, _ = await _get(client, "/catalog/datasets/nagano-weather", "text/turtle")
    assert (weather, RDF.type, DCAT.Dataset) in one


async def test_content_negotiation(client: TestClient) -> None:
    for accept, media in (("", "application/ld+json"), ("*/*", "application/ld+json"),
                          ("application/json", "application/ld+json"),
                          ("text/turtle;q=0.5, application/rdf+xml", "application/rdf+xml"),
                          ("text/html, text/turtle;q=0.9", "text/turtle")):
        resp = await client.get("/catalog", headers={"Accept": accept} if accept else {})
        assert resp.status == 200 and resp.content_type == media, (accept, resp.content_type)
    await assert_problem(await client.get("/catalog", headers={"Accept": "text/html"}), 406,
                         "InvalidRequest")
    await assert_problem(await client.get("/catalog/datasets/nope",
                                          headers={"Accept": "text/turtle"}), 404,
                         "ResourceNotFound")


async def test_a_broken_catalogue_fails_the_shapes(client: TestClient) -> None:
    """The shapes catch what DCAT-AP forbids: a missing mandatory title, a format or media
    type given as text, two publishers, an e-mail that is not a mailto: IRI."""
    await _registry(client)
    resp = await client.get("/catalog")
    doc = await resp.json(content_type=None)
    assert validate(Graph().parse(data=_dumps(doc), format="json-ld"),
                    shacl_graph=_shapes(), allow_warnings=True)[0]
    broken = copy.deepcopy(doc)
    by_id = {d["dct:identifier"]: d for d in broken["dcat:dataset"]}
    weather = by_id["nagano-weather"]
    del weather["dct:title"]
    dist = weather["dcat:distribution"][0]
    dist["dct:format"] = "NGSI-LD"
    dist["dcat:mediaType"] = "application/ld+json"
    del dist["dcat:accessURL"]
    weather["dct:source"] = "気象庁"
    weather["dcat:contactPoint"]["vcard:hasEmail"] = "kisho@city.nagano.example"
    broken["dct:publisher"] = [broken["dct:publisher"], by_id["ueda-traffic"]["dct:publisher"]]
    conforms, report, text = validate(Graph().parse(data=_dumps(broken), format="json-ld"),
                                      shacl_graph=_shapes(), allow_warnings=True)
    assert not conforms
    paths = {p for _, p in _results(report, SH.Violation)}
    vcard = "http://www.w3.org/2006/vcard/ns#"
    assert {str(DCT.title), str(DCT["format"]), str(DCAT.mediaType), str(DCAT.accessURL),
            str(DCT.source), str(DCT.publisher), vcard + "hasEmail"} <= paths, text


def _dumps(doc: Any) -> str:
    import json

    return json.dumps(doc, ensure_ascii=False)
