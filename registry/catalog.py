"""The data catalogue: every dataset described in DCAT-AP (v2/v3) as JSON-LD.

Shaped for CKAN's DCAT harvester (ckanext-dcat, its ``dcat_rdf_harvester`` parses JSON-LD
with rdflib): one ``dcat:Catalog`` whose ``dcat:dataset`` members carry ``dct:title``,
``dct:description``, ``dct:identifier``, ``dct:publisher`` (a ``foaf:Agent``),
``dcat:contactPoint`` (a ``vcard:Kind``), ``dct:accrualPeriodicity`` and ``dct:accessRights``
from the EU vocabularies DCAT-AP names, and a ``dcat:Distribution`` whose ``dcat:accessURL``
is the NGSI-LD query that returns the dataset's entities, with ``dct:license``.
Pure: the hub passes the records and its public base URL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from registry.model import FREQUENCIES, LICENCES, Dataset, Names, Organisation

__all__ = ["CONTEXT", "catalog", "dataset_record", "ngsi_ld_query_url"]

CONTEXT: dict[str, str] = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
_EU = "http://publications.europa.eu/resource/authority/"
_NGSI_LD_MEDIA = "https://www.iana.org/assignments/media-types/application/ld+json"
#: the NGSI-LD attribute (contracts' namespace) entities name their dataset by
REF_DATASET_TERM = "refDataset"


def _lang(names: Names | None) -> list[dict[str, str]]:
    if names is None:
        return []
    out = [{"@value": names.ja, "@language": "ja"}]
    if names.en:
        out.append({"@value": names.en, "@language": "en"})
    return out


def _agent(org: Organisation | None, org_id: str, base: str) -> dict[str, Any]:
    agent: dict[str, Any] = {"@id": f"{base}/registry/v1/organisations/{org_id}",
                             "@type": "foaf:Agent", "dct:identifier": org_id}
    if org is not None:
        agent["foaf:name"] = _lang(org.name)
        if org.url:
            agent["foaf:homepage"] = {"@id": org.url}
    return agent


def ngsi_ld_query_url(ds: Dataset, base: str) -> str:
    """The NGSI-LD query (GS CIM 009 6.4.3.2) that returns exactly the dataset's entities.

    Entities carry their dataset as the ``refDataset`` relationship, so ``q`` selects on it;
    a catch-all dataset's entities carry no provenance and are every entity (``local=true``).
    """
    if ds.rule.catch_all:
        return f"{base}/ngsi-ld/v1/entities?local=true"
    query = urlencode({"q": f'{REF_DATASET_TERM}=="{ds.iri}"'}, quote_via=quote)
    return f"{base}/ngsi-ld/v1/entities?{query}"


def dataset_record(ds: Dataset, orgs: Mapping[str, Organisation], base: str) -> dict[str, Any]:
    """One ``dcat:Dataset`` node (without @context)."""
    licence = LICENCES[ds.licence]
    access = "PUBLIC" if ds.open_data else ("RESTRICTED" if ds.personal_data else "NON_PUBLIC")
    distribution: dict[str, Any] = {
        "@id": f"{base}/catalog/datasets/{ds.id}#ngsi-ld",
        "@type": "dcat:Distribution",
        "dct:title": [{"@value": f"NGSI-LD API: {ds.name.en or ds.name.ja}", "@language": "en"}],
        "dcat:accessURL": {"@id": ngsi_ld_query_url(ds, base)},
        "dcat:mediaType": {"@id": _NGSI_LD_MEDIA},
        "dct:format": "NGSI-LD",
    }
    if licence.url:
        distribution["dct:license"] = {"@id": licence.url}
    record: dict[str, Any] = {
        "@id": f"{base}/catalog/datasets/{ds.id}",
        "@type": "dcat:Dataset",
        "dct:identifier": ds.id,
        "dct:title": _lang(ds.name),
        "dct:description": _lang(ds.description or ds.name),
        "dct:publisher": _agent(orgs.get(ds.owner), ds.owner, base),
        "dct:accrualPeriodicity": {"@id": _EU + "frequency/" + FREQUENCIES[ds.update_frequency]},
        "dct:accessRights": {"@id": _EU + "access-right/" + access},
        "dcat:keyword": list(ds.keywords),
        "dcat:theme": [{"@id": f"{base}/contracts/{c}"} for c in ds.contracts],
        "dcat:distribution": [distribution],
    }
    if licence.url:
        record["dct:license"] = {"@id": licence.url}
    if ds.contact:
        email = ds.contact if ds.contact.startswith(("mailto:", "http")) else "mailto:" + ds.contact
        record["dcat:contactPoint"] = {"@type": "vcard:Kind", "vcard:fn": ds.name.ja,
                                       "vcard:hasEmail" if email.startswith("mailto:")
                                       else "vcard:hasURL": {"@id": email}}
    if ds.source:
        record["dct:source"] = ds.source
    if ds.created_at:
        record["dct:issued"] = {"@value": ds.created_at.isoformat(), "@type": "xsd:dateTime"}
    if ds.modified_at:
        record["dct:modified"] = {"@value": ds.modified_at.isoformat(), "@type": "xsd:dateTime"}
    return record


def catalog(datasets: Iterable[Dataset], orgs: Iterable[Organisation], base: str,
            publisher: str | None = None) -> dict[str, Any]:
    """The whole ``dcat:Catalog`` document; ``publisher`` is the operating organisation."""
    by_id = {o.id: o for o in orgs}
    prefecture = publisher or next((o.id for o in by_id.values() if o.kind == "prefecture"),
                                   None)
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "@id": f"{base}/catalog",
        "@type": "dcat:Catalog",
        "dct:title": [{"@value": "Renkei データカタログ", "@language": "ja"},
                      {"@value": "Renkei data catalogue", "@language": "en"}],
        "dct:description": [{"@value": "Datasets published through the Renkei NGSI-LD hub",
                             "@language": "en"}],
        "foaf:homepage": {"@id": f"{base}/catalog"},
        "dct:language": [{"@id": _EU + "language/JPN"}],
        "dcat:dataset": [dataset_record(d, by_id, base) for d in datasets],
    }
    if prefecture:
        doc["dct:publisher"] = _agent(by_id.get(prefecture), prefecture, base)
    return doc
