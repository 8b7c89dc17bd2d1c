"""The data catalogue: every dataset described in DCAT-AP 3, as JSON-LD, Turtle or RDF/XML.

One ``dcat:Catalog`` whose ``dcat:dataset`` members carry what DCAT-AP 3 makes mandatory
and recommends (docs/registry.md, "Catalogue (DCAT-AP)"; checked by Renkei's own SHACL
shapes, ``registry/shapes/dcat-ap-3-renkei.ttl``): titles and descriptions (ja/en), the
publisher (a ``foaf:Agent`` typed from the ADMS publisher types), a contact point
(``vcard:Kind``), keywords, themes of the EU data-theme vocabulary mapped from the
dataset's contracts, the contracts themselves as ``dct:conformsTo``, access rights and
frequency from the EU vocabularies, and a ``dcat:Distribution`` whose ``dcat:accessURL`` is
the NGSI-LD query that returns the dataset's entities, its ``dct:format`` (EU file type) and
``dcat:mediaType`` (IANA) as IRIs, never strings.

Every ``@id`` is built from the base URL the hub passes, its configured public URL
(``public_url``), never the request's Host header: a catalogue harvested through a proxy
or under a forged Host names the same resources. Pure apart from rdflib's serialisers.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from contracts import CONTRACTS, schema_id
from registry.model import FREQUENCIES, LICENCES, Dataset, Names, Organisation, OrgKind

__all__ = ["CONTEXT", "FORMATS", "THEMES", "catalog", "dataset_record", "ngsi_ld_query_url",
           "serialise"]

CONTEXT: dict[str, str] = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "dcatap": "http://data.europa.eu/r5r/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
_EU = "http://publications.europa.eu/resource/authority/"
#: IANA's registry page of the media type: the IRI DCAT-AP names for dcat:mediaType
_NGSI_LD_MEDIA = "https://www.iana.org/assignments/media-types/application/ld+json"
#: the EU file-type authority's JSON-LD: the IRI DCAT-AP names for dct:format
_NGSI_LD_FORMAT = _EU + "file-type/JSON_LD"
#: what the distribution's API speaks: ETSI GS CIM 009 (NGSI-LD)
_NGSI_LD_SPEC = "https://www.etsi.org/deliver/etsi_gs/CIM/001_099/009/"
#: the catalogue's own metadata is open (CC BY 4.0, as the prefecture's open data)
_CATALOGUE_LICENCE = "CC-BY-4.0"
_ADMS_PUBLISHER = "http://purl.org/adms/publishertype/"
_PUBLISHER_TYPE = {OrgKind.PREFECTURE: "RegionalAuthority",
                   OrgKind.MUNICIPALITY: "LocalAuthority", OrgKind.PRIVATE: "Company"}

#: the EU data-theme vocabulary (DCAT-AP's mandatory taxonomy for dcat:theme) per
#: contract: what a harvester files the dataset under. Weather, water and flood
#: observations are environment; traffic is transport; devices are science and
#: technology; places and libraries are regions/cities and education/culture; alerts are
#: public safety (justice, legal system and public safety).
THEMES: dict[str, tuple[str, ...]] = {
    "WeatherObserved": ("ENVI",),
    "WaterObserved": ("ENVI",),
    "FloodMonitoring": ("ENVI", "JUST"),
    "TrafficFlowObserved": ("TRAN",),
    "Device": ("TECH",),
    "PointOfInterest": ("REGI",),
    "LibraryCirculation": ("EDUC",),
    "LibraryLoanRanking": ("EDUC",),
    "Alert": ("JUST",),
}
_THEME_SCHEME = _EU + "data-theme"

#: the serialisations of the catalogue: media type -> rdflib format (JSON-LD is the
#: default and is not re-serialised: its shape is what CKAN's harvester is tested with)
FORMATS: dict[str, str | None] = {
    "application/ld+json": None,
    "text/turtle": "turtle",
    "application/rdf+xml": "xml",
}


def _lang(names: Names | None) -> list[dict[str, str]]:
    if names is None:
        return []
    out = [{"@value": names.ja, "@language": "ja"}]
    if names.en:
        out.append({"@value": names.en, "@language": "en"})
    return out


def _ref(iri: str, cls: str) -> dict[str, str]:
    """A resource of a controlled vocabulary, typed with the class DCAT-AP gives the
    property's range: a validator needs no copy of the vocabulary to see the range met."""
    return {"@id": iri, "@type": cls}


def _when(ts: datetime) -> dict[str, str]:
    return {"@value": ts.isoformat(), "@type": "xsd:dateTime"}


def _contact(name: Names, contact: str | None) -> dict[str, Any] | None:
    """A ``vcard:Kind``: its name, and the address as ``mailto:`` or a web page."""
    if not contact:
        return None
    if contact.startswith(("http://", "https://")):
        how: dict[str, Any] = {"vcard:hasURL": {"@id": contact}}
    else:
        how = {"vcard:hasEmail": {"@id": contact if contact.startswith("mailto:")
                                  else "mailto:" + contact}}
    return {"@type": "vcard:Kind", "vcard:fn": name.ja, **how}


def _agent(org: Organisation | None, org_id: str, base: str) -> dict[str, Any]:
    agent: dict[str, Any] = {"@id": f"{base}/registry/v1/organisations/{org_id}",
                             "@type": "foaf:Agent", "dct:identifier": org_id}
    if org is None:  # a dataset whose owner is gone: still a named agent
        agent["foaf:name"] = [{"@value": org_id, "@language": "ja"}]
        return agent
    agent["foaf:name"] = _lang(org.name)
    agent["dct:type"] = _ref(_ADMS_PUBLISHER + _PUBLISHER_TYPE[org.kind], "skos:Concept")
    if org.url:
        agent["foaf:homepage"] = _ref(org.url, "foaf:Document")
    return agent


def ngsi_ld_query_url(ds: Dataset, base: str) -> str:
    """The NGSI-LD query (GS CIM 009 6.4.3.2) that returns exactly the dataset's entities.

    Entities carry their dataset as the ``refDataset`` relationship, so ``q`` selects on it;
    a catch-all dataset's entities carry no provenance and are every entity (``local=true``).
    """
    if ds.rule.catch_all:
        return f"{base}/ngsi-ld/v1/entities?local=true"
    query = urlencode({"q": f'refDataset=="{ds.iri}"'}, quote_via=quote)
    return f"{base}/ngsi-ld/v1/entities?{query}"


def _is_iri(text: str) -> bool:
    scheme, sep, rest = text.partition(":")
    return bool(sep and rest and scheme.isascii() and scheme[:1].isalpha()
                and not any(c.isspace() for c in text))


def dataset_record(ds: Dataset, orgs: Mapping[str, Organisation], base: str) -> dict[str, Any]:
    """One ``dcat:Dataset`` node (without @context)."""
    licence = LICENCES[ds.licence]
    access = "PUBLIC" if ds.open_data else ("RESTRICTED" if ds.personal_data else "NON_PUBLIC")
    owner = orgs.get(ds.owner)
    distribution: dict[str, Any] = {
        "@id": f"{base}/catalog/datasets/{ds.id}#ngsi-ld",
        "@type": "dcat:Distribution",
        "dct:title": [{"@value": f"NGSI-LD API: {ds.name.en or ds.name.ja}", "@language": "en"}],
        "dct:description": [{"@value": "The dataset's entities, queried through the hub's "
                             "NGSI-LD API (ETSI GS CIM 009)", "@language": "en"}],
        "dcat:accessURL": {"@id": ngsi_ld_query_url(ds, base)},
        "dcat:mediaType": _ref(_NGSI_LD_MEDIA, "dct:MediaType"),
        "dct:format": _ref(_NGSI_LD_FORMAT, "dct:MediaTypeOrExtent"),
        "dct:conformsTo": _ref(_NGSI_LD_SPEC, "dct:Standard"),
        "dcatap:availability": _ref(_EU + "planned-availability/AVAILABLE", "skos:Concept"),
    }
    if licence.url:
        distribution["dct:license"] = _ref(licence.url, "dct:LicenseDocument")
    themes = dict.fromkeys(t for c in ds.contracts for t in THEMES.get(c, ()))
    record: dict[str, Any] = {
        "@id": f"{base}/catalog/datasets/{ds.id}",
        "@type": "dcat:Dataset",
        "dct:identifier": ds.id,
        "dct:title": _lang(ds.name),
        "dct:description": _lang(ds.description or ds.name),
        "dct:publisher": _agent(owner, ds.owner, base),
        "dct:accrualPeriodicity": _ref(_EU + "frequency/" + FREQUENCIES[ds.update_frequency],
                                       "dct:Frequency"),
        "dct:accessRights": _ref(_EU + "access-right/" + access, "dct:RightsStatement"),
        "dct:spatial": _ref(_EU + "country/JPN", "dct:Location"),
        "dcat:keyword": [{"@value": k, "@language": "ja"} for k in ds.keywords],
        "dcat:theme": [_ref(f"{_THEME_SCHEME}/{t}", "skos:Concept") for t in themes],
        "dct:conformsTo": [_ref(schema_id(c, CONTRACTS[c].version), "dct:Standard")
                           for c in ds.contracts if c in CONTRACTS],
        "dcat:distribution": [distribution],
    }
    if licence.url:
        record["dct:license"] = _ref(licence.url, "dct:LicenseDocument")
    contact = _contact(ds.name, ds.contact) or (
        _contact(owner.name, owner.contact) if owner is not None else None)
    if contact:
        record["dcat:contactPoint"] = contact
    if ds.source and _is_iri(ds.source):
        record["dct:source"] = {"@id": ds.source}  # DCAT-AP: a resource (the upstream)
    elif ds.source:
        record["dct:provenance"] = {"@type": "dct:ProvenanceStatement",
                                    "rdfs:label": ds.source}
    if ds.created_at:
        record["dct:issued"] = _when(ds.created_at)
    if ds.modified_at:
        record["dct:modified"] = _when(ds.modified_at)
    return record


def catalog(datasets: Iterable[Dataset], orgs: Iterable[Organisation], base: str,
            publisher: str | None = None) -> dict[str, Any]:
    """The whole ``dcat:Catalog`` document; ``publisher`` is the operating organisation
    (default: the prefecture). Issued and modified are the earliest creation and the latest
    change of any dataset or organisation it describes."""
    datasets, by_id = list(datasets), {o.id: o for o in orgs}
    prefecture = publisher or next((o.id for o in by_id.values() if o.kind == "prefecture"),
                                   None)
    operator = by_id.get(prefecture) if prefecture else None
    records: list[Organisation | Dataset] = [*datasets, *by_id.values()]
    created = [r.created_at for r in records if r.created_at]
    changed = [t for r in records for t in (r.modified_at, r.created_at) if t]
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "@id": f"{base}/catalog",
        "@type": "dcat:Catalog",
        "dct:title": [{"@value": "Renkei データカタログ", "@language": "ja"},
                      {"@value": "Renkei data catalogue", "@language": "en"}],
        "dct:description": [{"@value": "Renkei NGSI-LD ハブで公開されるデータセット",
                             "@language": "ja"},
                            {"@value": "Datasets published through the Renkei NGSI-LD hub",
                             "@language": "en"}],
        "foaf:homepage": _ref(f"{base}/docs/api", "foaf:Document"),  # the hub's API page
        "dct:language": [_ref(_EU + "language/JPN", "dct:LinguisticSystem")],
        "dct:license": _ref(str(LICENCES[_CATALOGUE_LICENCE].url), "dct:LicenseDocument"),
        "dct:spatial": _ref(_EU + "country/JPN", "dct:Location"),
        "dcat:themeTaxonomy": _ref(_THEME_SCHEME, "skos:ConceptScheme"),
        "dcat:dataset": [dataset_record(d, by_id, base) for d in datasets],
    }
    if created:
        doc["dct:issued"] = _when(min(created))
    if changed:
        doc["dct:modified"] = _when(max(changed))
    if prefecture:
        doc["dct:publisher"] = _agent(operator, prefecture, base)
    else:  # DCAT-AP: exactly one publisher; a hub with no prefecture yet is its operator
        doc["dct:publisher"] = {"@id": f"{base}/catalog#operator", "@type": "foaf:Agent",
                                "foaf:name": [{"@value": "Renkei hub operator",
                                               "@language": "en"}]}
    if operator is not None and (point := _contact(operator.name, operator.contact)):
        doc["dcat:contactPoint"] = point
    return doc


def serialise(doc: Mapping[str, Any], media_type: str) -> bytes:
    """The catalogue (or one record with its @context) in a format of :data:`FORMATS`:
    JSON-LD as built; Turtle and RDF/XML by rdflib from the same JSON-LD, so the three
    say the same triples (a test parses all three and compares)."""
    fmt = FORMATS[media_type]
    data = orjson.dumps(doc)
    if fmt is None:
        return data
    from rdflib import Graph  # imported on first use: a slow import few requests need

    graph = Graph()
    with warnings.catch_warnings():  # rdflib 7's JSON-LD parser uses its own old API
        warnings.filterwarnings("ignore", "ConjunctiveGraph is deprecated", DeprecationWarning)
        graph.parse(data=data.decode("utf-8"), format="json-ld")
    for prefix, ns in CONTEXT.items():
        graph.bind(prefix, ns)
    out = graph.serialize(format=fmt, encoding="utf-8")
    return out if isinstance(out, bytes) else out.encode("utf-8")
