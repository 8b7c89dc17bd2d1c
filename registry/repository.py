"""All SQL of the registry (tables in ``hub/db/migrations/global/0010_registry.sql``).

The repository turns rows into :mod:`registry.model` records and back; it decides nothing.
Methods that change several rows expect the caller to hold :meth:`RegistryRepository.atomic`,
which also serialises every registry change (so two concurrent registrations cannot both pass
the overlap check).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg

from registry.model import (
    AdapterRegistration,
    AdapterRun,
    AdapterState,
    Dataset,
    MembershipRule,
    Names,
    Organisation,
    OrgKind,
)

__all__ = ["RegistryRepository"]

_LOCK_KEY = 0x52454753  # "REGS": registry changes, one at a time


def _names(raw: Any) -> Names | None:
    return Names(ja=raw["ja"], en=raw.get("en")) if raw else None


def _org(row: asyncpg.Record) -> Organisation:
    name = _names(row["name"])
    assert name is not None
    return Organisation(id=row["id"], kind=OrgKind(row["kind"]), name=name,
                        contact=row["contact"], url=row["url"], created_at=row["created_at"],
                        modified_at=row["modified_at"])


def _dataset(row: asyncpg.Record) -> Dataset:
    name = _names(row["name"])
    assert name is not None
    return Dataset(
        id=row["id"], owner=row["owner"], name=name, description=_names(row["description"]),
        rule=MembershipRule(frozenset(row["entity_types"]), tuple(row["id_prefixes"]),
                            row["catch_all"], row["owner_default"]),
        contracts=tuple(row["contracts"]), licence=row["licence"], open_data=row["open_data"],
        personal_data=row["personal_data"], update_frequency=row["update_frequency"],
        contact=row["contact"], source=row["source"], keywords=tuple(row["keywords"]),
        history_retention_days=row.get("history_retention_days"),
        history_mode=row.get("history_mode") or "observed",
        created_at=row["created_at"], modified_at=row["modified_at"],
    )


def _adapter(row: asyncpg.Record) -> AdapterRegistration:
    return AdapterRegistration(id=row["id"], dataset=row["dataset"], adapter=row["adapter"],
                               config=row["config"], schedule=row["schedule"],
                               enabled=row["enabled"], created_at=row["created_at"],
                               modified_at=row["modified_at"])


def _run(row: asyncpg.Record) -> AdapterRun:
    return AdapterRun(id=row["id"], adapter_id=row["adapter_id"], started_at=row["started_at"],
                      finished_at=row["finished_at"], status=row["status"],
                      counts=row["counts"], errors=tuple(row["errors"]))


class RegistryRepository:
    """Registry persistence on one asyncpg pool, or on one connection inside ``atomic``."""

    def __init__(self, db: asyncpg.Pool | asyncpg.Connection) -> None:
        self._db = db

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[RegistryRepository]:
        """A transaction holding the registry lock, as a repository bound to it."""
        if isinstance(self._db, asyncpg.Pool):
            async with self._db.acquire() as con, con.transaction():
                await con.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
                yield RegistryRepository(con)
        else:
            async with self._db.transaction():
                await self._db.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
                yield self

    # -- organisations ---------------------------------------------------------------------

    async def get_organisation(self, org_id: str) -> Organisation | None:
        row = await self._db.fetchrow("SELECT * FROM registry.organisations WHERE id = $1",
                                      org_id)
        return _org(row) if row else None

    async def list_organisations(self, kind: str | None = None) -> list[Organisation]:
        rows = await self._db.fetch(
            "SELECT * FROM registry.organisations WHERE $1::text IS NULL OR kind = $1"
            " ORDER BY id", kind)
        return [_org(r) for r in rows]

    async def save_organisation(self, org: Organisation) -> tuple[Organisation, bool]:
        """Insert or update; returns the stored record and whether it was inserted."""
        row = await self._db.fetchrow(
            """INSERT INTO registry.organisations AS o (id, kind, name, contact, url)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, contact = EXCLUDED.contact,
                   url = EXCLUDED.url, modified_at = now()
               RETURNING *, (xmax = 0) AS inserted""",
            org.id, org.kind.value, org.name.to_json(), org.contact, org.url)
        return _org(row), bool(row["inserted"])

    async def delete_organisation(self, org_id: str) -> bool:
        done = await self._db.execute("DELETE FROM registry.organisations WHERE id = $1", org_id)
        return bool(done != "DELETE 0")

    # -- datasets ---------------------------------------------------------------------------

    async def get_dataset(self, dataset_id: str) -> Dataset | None:
        row = await self._db.fetchrow("SELECT * FROM registry.datasets WHERE id = $1",
                                      dataset_id)
        return _dataset(row) if row else None

    async def list_datasets(self, owner: str | None = None) -> list[Dataset]:
        rows = await self._db.fetch(
            "SELECT * FROM registry.datasets WHERE $1::text IS NULL OR owner = $1 ORDER BY id",
            owner)
        return [_dataset(r) for r in rows]

    async def save_dataset(self, ds: Dataset) -> tuple[Dataset, bool]:
        row = await self._db.fetchrow(
            """INSERT INTO registry.datasets AS d (id, owner, name, description, entity_types,
                   id_prefixes, catch_all, contracts, licence, open_data, personal_data,
                   update_frequency, contact, source, keywords, owner_default,
                   history_retention_days, history_mode)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                       $16, $17, $18)
               ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name,
                   description = EXCLUDED.description, entity_types = EXCLUDED.entity_types,
                   id_prefixes = EXCLUDED.id_prefixes, catch_all = EXCLUDED.catch_all,
                   contracts = EXCLUDED.contracts, licence = EXCLUDED.licence,
                   open_data = EXCLUDED.open_data, personal_data = EXCLUDED.personal_data,
                   update_frequency = EXCLUDED.update_frequency, contact = EXCLUDED.contact,
                   source = EXCLUDED.source, keywords = EXCLUDED.keywords,
                   history_retention_days = EXCLUDED.history_retention_days,
                   history_mode = EXCLUDED.history_mode,
                   modified_at = now()
               RETURNING *, (xmax = 0) AS inserted""",
            ds.id, ds.owner, ds.name.to_json(),
            ds.description.to_json() if ds.description else None,
            sorted(ds.rule.entity_types), list(ds.rule.id_prefixes), ds.rule.catch_all,
            list(ds.contracts), ds.licence, ds.open_data, ds.personal_data, ds.update_frequency,
            ds.contact, ds.source, list(ds.keywords), ds.rule.owner_default,
            ds.history_retention_days, ds.history_mode)
        return _dataset(row), bool(row["inserted"])

    async def delete_dataset(self, dataset_id: str) -> bool:
        done = await self._db.execute("DELETE FROM registry.datasets WHERE id = $1", dataset_id)
        return bool(done != "DELETE 0")

    async def snapshot(self) -> tuple[int, list[Dataset]]:
        """The registry version and every dataset, for the rules cache.

        The version is read first: the datasets are then at least that new, so a cache
        holding them can only be too eager to reload, never stale without knowing it.
        """
        version = await self.version()
        return version, await self.list_datasets()

    async def version(self) -> int:
        return int(await self._db.fetchval("SELECT version FROM registry.state"))

    # -- adapters and runs ------------------------------------------------------------------

    async def get_adapter(self, adapter_id: str) -> AdapterRegistration | None:
        row = await self._db.fetchrow("SELECT * FROM registry.adapters WHERE id = $1",
                                      adapter_id)
        return _adapter(row) if row else None

    async def list_adapters(self, dataset: str | None = None) -> list[AdapterRegistration]:
        rows = await self._db.fetch(
            "SELECT * FROM registry.adapters WHERE $1::text IS NULL OR dataset = $1 ORDER BY id",
            dataset)
        return [_adapter(r) for r in rows]

    async def save_adapter(self, reg: AdapterRegistration) -> tuple[AdapterRegistration, bool]:
        row = await self._db.fetchrow(
            """INSERT INTO registry.adapters AS a (id, dataset, adapter, config, schedule, enabled)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (id) DO UPDATE SET dataset = EXCLUDED.dataset,
                   adapter = EXCLUDED.adapter, config = EXCLUDED.config,
                   schedule = EXCLUDED.schedule, enabled = EXCLUDED.enabled, modified_at = now(),
                   -- a new schedule counts from now: the worker runs it on its next pass
                   next_run_at = CASE WHEN a.schedule IS DISTINCT FROM EXCLUDED.schedule
                                      THEN NULL ELSE a.next_run_at END
               RETURNING *, (xmax = 0) AS inserted""",
            reg.id, reg.dataset, reg.adapter, reg.config, reg.schedule, reg.enabled)
        return _adapter(row), bool(row["inserted"])

    async def request_run(self, adapter_id: str) -> datetime | None:
        """Mark the registration due now (the worker serves it on its next pass)."""
        when: datetime | None = await self._db.fetchval(
            "UPDATE registry.adapters SET run_requested_at = now() WHERE id = $1"
            " RETURNING run_requested_at", adapter_id)
        return when

    async def delete_adapter(self, adapter_id: str) -> bool:
        done = await self._db.execute("DELETE FROM registry.adapters WHERE id = $1", adapter_id)
        return bool(done != "DELETE 0")

    async def add_run(self, run: AdapterRun) -> AdapterRun:
        row = await self._db.fetchrow(
            """INSERT INTO registry.adapter_runs (adapter_id, started_at, finished_at, status,
                   counts, errors) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *""",
            run.adapter_id, run.started_at, run.finished_at, run.status, run.counts,
            list(run.errors))
        return _run(row)

    async def adapter_states(self, adapter_ids: list[str]) -> dict[str, AdapterState]:
        """The worker's schedule state and the latest run of each registration, in one
        query (the operations view of ``GET /registry/v1/adapters``)."""
        rows = await self._db.fetch(
            """SELECT a.id, a.enabled, a.schedule, a.next_run_at, a.run_requested_at,
                      a.failures, r.id AS run_id, r.started_at, r.finished_at, r.status,
                      r.counts, r.errors
               FROM registry.adapters a
               LEFT JOIN LATERAL (SELECT * FROM registry.adapter_runs
                                  WHERE adapter_id = a.id
                                  ORDER BY started_at DESC, id DESC LIMIT 1) r ON true
               WHERE a.id = ANY($1::text[])""", adapter_ids)
        return {row["id"]: AdapterState(
            enabled=row["enabled"], schedule=row["schedule"], next_run_at=row["next_run_at"],
            run_requested_at=row["run_requested_at"], failures=row["failures"],
            last_run=None if row["run_id"] is None else AdapterRun(
                id=row["run_id"], adapter_id=row["id"], started_at=row["started_at"],
                finished_at=row["finished_at"], status=row["status"], counts=row["counts"],
                errors=tuple(row["errors"]))) for row in rows}

    async def list_runs(self, adapter_id: str, limit: int) -> list[AdapterRun]:
        rows = await self._db.fetch(
            "SELECT * FROM registry.adapter_runs WHERE adapter_id = $1"
            " ORDER BY started_at DESC, id DESC LIMIT $2", adapter_id, limit)
        return [_run(r) for r in rows]
