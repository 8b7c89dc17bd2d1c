"""Where access control learns an entity's dataset and each dataset's owner and flags.

The registry decides at write time which dataset an entity belongs to and stamps it as the
``refDataset`` relationship (``urn:ngsi-ld:Dataset:<id>``, hub/service/ownership.py). This
module is the one place access control reads that, in SQL (``dataset_in``) and from a
loaded entity (``entity_dataset``), and loads the catalogue (owner, open data, personal
data) for the per-process access state. An entity without provenance belongs to the
catch-all dataset when one is registered (a catch-all stamps nothing), else to none —
and an entity of no dataset is readable by nobody but in dev mode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import asyncpg

from hub.jsonld.core import DEFAULT_VOCAB
from hub.service.access_state import DatasetInfo

__all__ = ["DATASET_IRI", "DATASET_PREFIX", "dataset_in", "datasets_bound", "entity_dataset",
           "load_catalogue", "load_organisations", "text_array"]

#: the registry's ``refDataset`` (hub/service/ownership.py ``DATASET``)
DATASET_IRI = DEFAULT_VOCAB + "refDataset"
DATASET_PREFIX = "urn:ngsi-ld:Dataset:"


def dataset_in(column: str, catch_all: str | None, ids: Iterable[str]) -> str:
    """SQL, with one placeholder ``{}`` for ``ids`` as a ``text[]``, true when the dataset
    kept in ``column`` is one of ``ids``: the entities table's ``dataset``, generated from
    the ``refDataset`` stamp (tenant migration 0090) and carried by the primary key's index
    so an access condition needs no heap, or the temporal table's own column. A NULL
    column is the catch-all's (a catch-all stamps nothing), and nobody's without one
    (NULL, never true).

    Written on the column itself rather than on ``coalesce(column, catch_all)`` so that
    PostgreSQL estimates it from the column's statistics: the share of a tenant a caller
    may read is what decides whether a page walks the key with every entity's value rows
    merged in or probes the value rows of the visible ones only, and the expression had
    no statistics (estimated at 0.005, then held at 0.5 by ``estimates.even_odds``)."""
    if catch_all is not None and catch_all in ids:
        return f"({column} = ANY({{}}::text[]) OR {column} IS NULL)"
    return f"{column} = ANY({{}}::text[])"


def datasets_bound(catch_all: str | None, ids: Iterable[str]) -> Callable[[str], str]:
    """``dataset_in`` with ``ids`` written in, for any column that keeps a dataset (the
    entity's, or an index row's copy of it: ``v.dataset``, ``g.dataset``): the column
    goes in before the literal, so no id can be mistaken for a column's name."""
    wanted = sorted(ids)
    literal = text_array(wanted)
    return lambda column: dataset_in(column, catch_all, wanted).format(literal)


def text_array(values: Iterable[str]) -> str:
    """``values`` as an SQL literal of type ``text[]``, for a condition that must not
    take a parameter (``access_reads.restrict``'s bound on the value rows, which goes into
    statements that do not all carry the filter's parameters in the same places)."""
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"ARRAY[{quoted}]::text[]"


def entity_dataset(ent: dict[str, Any], catch_all: str | None = None) -> str | None:
    instances = ent.get("attrs", {}).get(DATASET_IRI) or []
    obj = instances[0].get("object") if instances else None
    if isinstance(obj, str) and obj.startswith(DATASET_PREFIX):
        return obj[len(DATASET_PREFIX):]
    return catch_all


async def load_catalogue(con: asyncpg.Connection) -> list[DatasetInfo]:
    if not await con.fetchval("SELECT to_regclass('registry.datasets') IS NOT NULL"):
        return []
    rows = await con.fetch("SELECT id, owner, open_data, personal_data, catch_all,"
                           " entity_types FROM registry.datasets")
    return [DatasetInfo(r["id"], r["owner"], bool(r["open_data"]), bool(r["personal_data"]),
                        bool(r["catch_all"]), frozenset(r["entity_types"] or ()))
            for r in rows]


async def load_organisations(con: asyncpg.Connection) -> set[str] | None:
    """The registered organisations' ids (None: no registry schema, nothing to check)."""
    if not await con.fetchval("SELECT to_regclass('registry.organisations') IS NOT NULL"):
        return None
    return {r["id"] for r in await con.fetch("SELECT id FROM registry.organisations")}
