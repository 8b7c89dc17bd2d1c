"""The security harness: the enforcing world and a digest of everything stored.

An attack must be refused **and** change nothing. The digest covers every table of the
hub's own schemas (`renkei`, `registry`, `authz`) and of every tenant schema listed in
`renkei.tenants` — entities and their index rows, temporal history, subscriptions,
hosted and cached @contexts, the registry, clients, grants, signing keys, revoked tokens —
enumerated from the catalogue, so a table added later is covered without anyone
remembering to (fail-closed). Only what legitimately changes while an attack is refused
is left out (`VOLATILE_TABLES`, `VOLATILE_COLUMNS`): the audit log (refusals are
audited), rate windows, queues a background loop drains. Subscription delivery counters
(`times_sent`, `last_notification`, …) are *included*: an attack must not make a
notification be sent either.

Use (the documented set-up step)::

    async def test_attack(w: World, digest: Digest) -> None:
        await w.grant({...}, "firm")      # set-up: grants, clients, the test's own writes
        await digest.seal()               # the state the attack must leave alone
        ...attack, assert the refusal...
                                          # teardown asserts the digest is unchanged

A test without set-up needs only `w`: the digest is sealed when the world is built.
`await digest.check()` asserts mid-test (several attacks in one test).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.integration.authz_world import World, world

__all__ = ["Digest", "digest", "take_digest", "w", "world"]

#: the hub's own schemas; every tenant schema is added from `renkei.tenants`
GLOBAL_SCHEMAS = ("renkei", "registry", "authz")

#: tables whose rows change while an attack is refused, and why
VOLATILE_TABLES = frozenset({
    "authz.audit",            # every decision, refusals included, is recorded
    "authz.rate_windows",     # every request is counted
    "authz.assertion_jtis",   # replay protection records each assertion seen
    "authz.issued_tokens",    # every token issued is noted (revoke_tokens at rotation)
    "registry.state",         # a version number derived from registry.datasets
    "renkei.migrations",      # written at start-up only
    "entity_changes",         # (tenant) the change log the matcher drains
    "notifications",          # (tenant) the delivery queue
})

#: columns that change on a legitimate read: a context's use counters; a periodic
#: subscription's next due time moves on with the clock
VOLATILE_COLUMNS: dict[str, tuple[str, ...]] = {
    "renkei.contexts": ("last_used", "uses"),
    "subscriptions": ("next_run",),
}


def _volatile(schema: str, table: str, tenant: bool) -> bool:
    return f"{schema}.{table}" in VOLATILE_TABLES or (tenant and table in VOLATILE_TABLES)


def _skip_columns(schema: str, table: str, tenant: bool) -> list[str]:
    return list(VOLATILE_COLUMNS.get(table if tenant else f"{schema}.{table}", ()))


async def take_digest(url: str) -> dict[str, str]:
    """`schema.table` -> md5 of its rows (as JSON, volatile columns removed, sorted)."""
    con = await asyncpg.connect(url)
    try:
        tenants = [r["schema_name"] for r in await con.fetch(
            "SELECT schema_name FROM renkei.tenants ORDER BY 1")]
        schemas = [(s, False) for s in GLOBAL_SCHEMAS] + [(s, True) for s in tenants]
        out: dict[str, str] = {"renkei.tenants:list": ",".join(tenants)}
        for schema, tenant in schemas:
            tables = [r["table_name"] for r in await con.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $1"
                " AND table_type = 'BASE TABLE' ORDER BY 1", schema)]
            for table in tables:
                if _volatile(schema, table, tenant):
                    continue
                rows = f'SELECT (to_jsonb(t) - $1::text[])::text AS r FROM "{schema}"."{table}" t'
                out[f"{schema}.{table}"] = await con.fetchval(
                    "SELECT md5(coalesce(string_agg(r, E'\\n' ORDER BY r), ''))"
                    f" FROM ({rows}) s", _skip_columns(schema, table, tenant))
        return out
    finally:
        await con.close()


class Digest:
    """The sealed state of the world, compared again at teardown (or `check()`)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sealed: dict[str, str] = {}

    async def seal(self) -> None:
        """End of set-up: what is stored now is what every attack must leave alone."""
        self.sealed = await take_digest(self.url)

    async def check(self) -> None:
        """Assert nothing stored changed since `seal()`, naming the tables that did."""
        now = await take_digest(self.url)
        changed = sorted(k for k in self.sealed.keys() | now.keys()
                         if self.sealed.get(k) != now.get(k))
        assert not changed, f"an attack changed stored data in {changed}"


@pytest.fixture
async def digest(world: World) -> AsyncIterator[Digest]:
    """Sealed once the world is built; checked unchanged when the test ends."""
    d = Digest(world.url)
    await d.seal()
    yield d
    await d.check()


@pytest.fixture
async def w(world: World, digest: Digest) -> World:
    """The world, checked unchanged after the attack (see `digest`)."""
    return world
