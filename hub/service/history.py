"""Housekeeping of the history (issue #16, docs/architecture.md "History"): monthly
partitions of ``temporal_instances`` created ahead, and partitions past every dataset's
retention dropped whole.

It reads no entity data: it lists tenants and the registry's retention settings and runs
DDL, so it needs no caller (docs/access-control.md, "Whose rights"). Several hub
processes may run it; a transaction-scoped advisory lock lets one run at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta

import asyncpg
from aiohttp import web

from hub import keys
from hub.db.migrations import quote_ident
from hub.db.pool import is_database_trouble
from hub.store import temporal as store
from registry import Dataset, RegistryRepository

__all__ = ["expiry_cutoff", "housekeeping", "read_since", "run_once"]

log = logging.getLogger("renkei.history")

_LOCK_KEY = 0x72656E6B_68697374  # "renkhist"


def expiry_cutoff(datasets: Iterable[Dataset], default_days: int,
                  now: datetime) -> datetime | None:
    """The instant before which no dataset keeps history, or None when some keeps it for
    ever. Partitions are shared by every dataset of a tenant, so only what is past the
    LONGEST retention can be dropped; shorter retentions are filtered at read time."""
    longest = 0
    for ds in datasets:
        days = ds.history_retention_days or default_days
        if days <= 0:
            return None
        longest = max(longest, days)
    return now - timedelta(days=longest) if longest else None


def read_since(dataset: Dataset | None, default_days: int, now: datetime) -> datetime | None:
    """The earliest instant of a dataset's history a read may return: its retention is
    honoured on read, before the shared partition holding older instances is dropped
    (it goes only when past the LONGEST retention, ``expiry_cutoff``). None: for ever."""
    days = (dataset.history_retention_days if dataset is not None else None) or default_days
    return now - timedelta(days=days) if days > 0 else None


async def run_once(pool: asyncpg.Pool, *, ahead: int, default_days: int,
                   now: datetime | None = None) -> dict[str, list[str]]:
    """One pass over every tenant: partitions created, then expired ones dropped. Returns
    the tables created and dropped (for logs and tests)."""
    now = now or datetime.now(UTC)
    datasets = await RegistryRepository(pool).list_datasets()
    cutoff = expiry_cutoff(datasets, default_days, now)
    done: dict[str, list[str]] = {"created": [], "dropped": []}
    async with pool.acquire() as con, con.transaction():
        if not await con.fetchval("SELECT pg_try_advisory_xact_lock($1)", _LOCK_KEY):
            return done  # another process is at it
        for row in await con.fetch("SELECT schema_name FROM renkei.tenants ORDER BY 1"):
            schema = quote_ident(row["schema_name"])
            if await con.fetchval("SELECT to_regclass($1)",
                                  f"{schema}.temporal_instances_default") is None:
                continue  # a tenant not migrated yet
            done["created"] += await store.ensure_partitions(con, schema, now.date(), ahead)
            if cutoff is not None:
                done["dropped"] += await store.expire_partitions(con, schema, cutoff)
    return done


async def housekeeping(app: web.Application) -> AsyncIterator[None]:
    """The background loop (``app.cleanup_ctx``): one pass at start, then every
    ``history_housekeeping_interval`` seconds; a failed pass is logged and retried."""
    settings = app[keys.SETTINGS]

    async def loop() -> None:
        while True:
            try:
                done = await run_once(app[keys.POOL], ahead=settings.history_partitions_ahead,
                                      default_days=settings.history_retention_default)
                if done["created"] or done["dropped"]:
                    # "created" is a LogRecord attribute: extra may not reuse it
                    log.info("history partitions", extra={
                        "partitions_created": done["created"],
                        "partitions_dropped": done["dropped"]})
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the loop must outlive a failed pass (a busy pool too)
                log.warning("history housekeeping failed: %s: %s", type(exc).__name__, exc,
                            exc_info=not is_database_trouble(exc))
            await asyncio.sleep(settings.history_housekeeping_interval)

    task = asyncio.create_task(loop(), name="history-housekeeping")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
