"""Shared fixtures: a real PostgreSQL for every integration test, never a stand-in.

``RENKEI_TEST_DATABASE_URL`` names a server to use (e.g. the machine's PostgreSQL at
``postgresql://postgres@127.0.0.1:5432/test``); without it the embedded PostgreSQL
(``pgserver``) is started in a temporary directory for the session.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from hub import keys
from hub.app import create_app
from hub.db.embedded import EmbeddedPostgres
from hub.settings import Settings
from registry import RegistryRepository
from registry.service import ensure_catch_all

#: the test prefecture (北海道's real code, 010006) and its catch-all dataset, registered by
#: the ``client`` fixture; tests of ownership delete the catch-all first
TEST_PREFECTURE = "010006"
CATCH_ALL = "test-catch-all"


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    url = os.environ.get("RENKEI_TEST_DATABASE_URL")
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="renkei-test-pg-") as tmp:
        embedded = EmbeddedPostgres(Path(tmp))
        yield embedded.start()
        embedded.stop()


async def reset_database(url: str) -> None:
    """Drop every tenant schema so each test starts from an empty hub."""
    con = await asyncpg.connect(url)
    try:
        exists = await con.fetchval("SELECT to_regclass('renkei.tenants') IS NOT NULL")
        if exists:
            schemas = await con.fetch("SELECT schema_name FROM renkei.tenants")
            for r in schemas:
                await con.execute(f'DROP SCHEMA IF EXISTS "{r["schema_name"]}" CASCADE')
            await con.execute("DELETE FROM renkei.tenants")
            await con.execute("DELETE FROM renkei.migrations WHERE scope LIKE 'tenant:%'")
            await con.execute("DELETE FROM renkei.contexts")
        if await con.fetchval("SELECT to_regclass('registry.datasets') IS NOT NULL"):
            await con.execute("TRUNCATE registry.adapter_runs, registry.adapters,"
                              " registry.datasets, registry.organisations")
    finally:
        await con.close()


@pytest.fixture
def settings(database_url: str) -> Settings:
    # dev mode: these fixtures test NGSI-LD behaviour, not access control (which
    # tests/integration/test_authz_*.py and tests/security/ run with enforcement on)
    return Settings(database_url=database_url, max_body_bytes=200_000, max_limit=1000,
                    auth_mode="dev")


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient]:
    assert settings.database_url
    await reset_database(settings.database_url)
    app = create_app(settings)
    async with TestClient(TestServer(app)) as c:
        # every entity must belong to a dataset: the existing tests write arbitrary ones
        await ensure_catch_all(RegistryRepository(app[keys.POOL]), TEST_PREFECTURE, CATCH_ALL,
                               "テスト県")
        app[keys.REGISTRY_RULES].invalidate()
        yield c
    app[keys.TENANTS].forget()
