"""Fixtures of the reliability suite: a hub in this process with settings of the test's own
(queue limit, attempts), and SQL helpers that build big queues quickly."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from hub import keys
from hub.app import create_app
from hub.settings import Settings
from registry import RegistryRepository
from registry.service import ensure_catch_all
from tests.conftest import CATCH_ALL, TEST_PREFECTURE, reset_database

__all__ = ["HubFactory", "hub", "queue_copies"]

SCHEMA = "ngsild"  # the default tenant

HubFactory = Callable[..., AbstractAsyncContextManager[TestClient]]


@pytest.fixture
def hub(database_url: str) -> HubFactory:
    """``async with hub(notification_queue_limit=100) as client``: a dev-mode hub in this
    process (matcher and deliverer running), on an emptied database."""

    @asynccontextmanager
    async def start(**settings: Any) -> AsyncIterator[TestClient]:
        await reset_database(database_url)
        app = create_app(Settings(database_url=database_url, auth_mode="dev",
                                  subscription_poll_interval=0.2, **settings))
        async with TestClient(TestServer(app)) as client:
            await ensure_catch_all(RegistryRepository(app[keys.POOL]), TEST_PREFECTURE,
                                   CATCH_ALL, "テスト県")
            app[keys.REGISTRY_RULES].invalidate()
            yield client
        app[keys.TENANTS].forget()

    return start


async def queue_copies(con: asyncpg.Connection, sub_id: str, n: int) -> None:
    """Queue ``n`` more notifications for ``sub_id``, each a copy (with its own id) of the
    newest one the matcher inserted for it: the very shape the matcher writes, at SQL speed."""
    await con.execute(
        f"INSERT INTO {SCHEMA}.notifications (id, sub_id, payload)"
        " SELECT 'urn:ngsi-ld:Notification:' || gen_random_uuid(), $1, p.payload"
        f" FROM (SELECT payload FROM {SCHEMA}.notifications WHERE sub_id = $1"
        "       ORDER BY seq DESC LIMIT 1) p, generate_series(1, $2)", sub_id, n)
