"""Per-process state of access control, derived from PostgreSQL and safe to lose.

Signing keys, the revoked-token set, the approved grants and the dataset catalogue are
reloaded every ``authz_refresh`` seconds by one background task; audit records and rate
counts are written by the same task in batches. So a request never waits for an extra
statement, and the bounds are explicit: a token revoked (or a grant revoked or ended, or a
client deleted) in any process stops working in every process within ``authz_refresh``
seconds plus one refresh (docs/access-control.md, "Revocation bound").

Rate limits are fixed one-minute windows per client, summed across processes: each
process adds its counts to ``authz.rate_windows`` at every refresh and reads back the
total, so the hub as a whole admits at most the limit plus what the processes admit
between two refreshes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from joserfc.jwk import KeySet

from authz.model import Grant
from authz.repo import audit as audit_repo
from authz.repo import clients as clients_repo
from authz.repo import grants as grants_repo
from authz.repo import rates as rates_repo
from authz.repo import tokens as tokens_repo
from authz.signing_keys import SigningKey, signing_key, verification_set
from hub.db.pool import is_connection_error

__all__ = ["AccessState", "DatasetInfo"]

log = logging.getLogger("renkei.authz")
_TOKEN_CACHE_MAX = 10_000


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    id: str
    owner: str
    open_data: bool = False
    personal_data: bool = False
    catch_all: bool = False
    entity_types: frozenset[str] = frozenset()  # type IRIs its rule admits; empty = any


class AccessState:
    def __init__(self, pool: asyncpg.Pool, refresh: float, lifetime: int) -> None:
        self.pool = pool
        self.refresh_every = refresh
        self.lifetime = lifetime
        self.keys: list[SigningKey] = []
        self.keyset: KeySet | None = None
        self.revoked: set[str] = set()
        self._revoked_seen: datetime | None = None
        self.grants_by_org: dict[str, list[Grant]] = {}
        self.datasets: dict[str, DatasetInfo] = {}
        self.catch_all: str | None = None
        self.organisations: set[str] | None = None  # registered ids; None: no registry
        self.clients: dict[str, int | None] = {}  # client id -> requests per minute
        self._audit: list[tuple[Any, ...]] = []
        self._window: datetime | None = None
        self._local: dict[str, int] = defaultdict(int)
        self._global: dict[str, int] = {}
        self.tokens: dict[str, tuple[dict[str, Any], float]] = {}  # verified, until
        self._task: asyncio.Task[None] | None = None
        self.loaded_at = 0.0
        # one refresh at a time: the periodic one, begun before a token was revoked and
        # finished after the revoking request's own, would set the older state last
        self._refreshing = asyncio.Lock()

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        async with self.pool.acquire() as con:
            await tokens_repo.add_key(con, only_if_none=True)
        await self.refresh()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        try:
            await self.flush()
        except (asyncpg.PostgresError, OSError):
            log.warning("could not write the last audit records", exc_info=True)

    async def _loop(self) -> None:
        failing = False  # one line per outage (hub/db/pool.py DatabaseWatch), not per round
        while True:
            await asyncio.sleep(self.refresh_every)
            try:
                await self.refresh()
            except Exception as exc:  # keep the last good state; the next round retries
                if not failing:
                    log.warning("access-control state refresh failed",
                                exc_info=not is_connection_error(exc))
                failing = True
            else:
                if failing:
                    log.warning("access-control state refresh succeeds again")
                failing = False

    async def refresh(self) -> None:
        async with self._refreshing:
            await self._refresh()

    async def _refresh(self) -> None:
        from hub.service.catalogue import load_catalogue, load_organisations

        async with self.pool.acquire() as con:
            await self._flush_audit(con)
            await self._sync_rates(con)
            keys = await tokens_repo.keys(con)
            revoked, seen = await tokens_repo.revoked_since(con, None)
            grants = await grants_repo.live_approved(con)
            datasets = await load_catalogue(con)
            clients = await clients_repo.rates(con)
            self.organisations = await load_organisations(con)
        now = datetime.now(UTC)
        self.keys, self.keyset = keys, verification_set(keys, now)
        if set(revoked) - self.revoked:
            self.tokens.clear()
        self.revoked, self._revoked_seen = set(revoked), seen
        by_org: dict[str, list[Grant]] = defaultdict(list)
        for g in grants:
            by_org[g.consumer_org].append(g)
        self.grants_by_org = dict(by_org)
        self.datasets = {d.id: d for d in datasets}
        self.catch_all = next((d.id for d in datasets if d.catch_all), None)
        if set(self.clients) - set(clients):
            self.tokens.clear()  # a deleted client's tokens stop at once
        self.clients = clients
        self.loaded_at = time.monotonic()

    async def flush(self) -> None:
        async with self.pool.acquire() as con:
            await self._flush_audit(con)

    async def client_exists(self, client_id: str) -> bool:
        """A client created since the last refresh is looked up once, then known."""
        if client_id in self.clients:
            return True
        async with self.pool.acquire() as con:
            found = await clients_repo.get(con, client_id)
        if found is not None:
            self.clients[client_id] = found.rate_per_minute
        return found is not None

    # -- keys ------------------------------------------------------------------------
    def signing_jwk(self) -> dict[str, Any] | None:
        key = signing_key(self.keys)
        return key.private_jwk if key else None

    # -- audit -----------------------------------------------------------------------
    def record(self, row: tuple[Any, ...]) -> None:
        self._audit.append(row)

    async def _flush_audit(self, con: asyncpg.Connection) -> None:
        rows, self._audit = self._audit, []
        try:
            await audit_repo.insert_many(con, rows)
        except asyncpg.PostgresError:
            self._audit = rows + self._audit  # kept for the next round
            raise

    # -- rate ------------------------------------------------------------------------
    @staticmethod
    def _now() -> datetime:
        return datetime.now(UTC)

    def hit(self, client_id: str, limit: int, weight: int = 1) -> int | None:
        """Count one request (or ``weight`` units of one: the entities a context source
        notifies); None if within ``limit`` per minute, else seconds to wait."""
        now = self._now()
        window = now.replace(second=0, microsecond=0)
        if window != self._window:
            self._window, self._local, self._global = window, defaultdict(int), {}
        used = self._local[client_id] + self._global.get(client_id, 0)
        if used + weight > limit:
            return max(1, 60 - now.second)
        self._local[client_id] += weight
        return None

    async def _sync_rates(self, con: asyncpg.Connection) -> None:
        if self._window is None:
            return
        window, local = self._window, dict(self._local)
        totals = await rates_repo.add_counts(con, window, local)
        if window == self._window:
            for k, v in local.items():
                self._local[k] -= v
            self._global = totals
