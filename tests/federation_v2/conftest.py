"""Fixtures of the NGSI v2 tests: the local Orion-shaped server (orion_v2_server.py) on a
free port, empty, and a plain HTTP session to call it or to hand to NgsiV2Source."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.federation_v2.orion_v2_server import OrionV2Server


@pytest.fixture
async def orion() -> AsyncIterator[OrionV2Server]:
    server = OrionV2Server()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
