"""The history housekeeping loop outlives a pass that found no free connection: a busy
pool is ``PoolExhausted``, neither a PostgreSQL nor an OS error, and once ended the loop
silently stopped creating partitions (its error surfaced only at shutdown)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import asyncpg
import pytest
from aiohttp import web

from hub import keys
from hub.db.migrations import apply_all
from hub.db.pool import create_pool
from hub.service.history import housekeeping
from hub.settings import Settings


async def test_a_busy_pool_is_one_failed_pass_not_the_end_of_the_loop(
        settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    assert settings.database_url
    con = await asyncpg.connect(settings.database_url)
    try:
        await apply_all(con)  # the registry and tenant tables the pass reads
    finally:
        await con.close()
    pool = await create_pool(settings.database_url, 1, 1, acquire_timeout=0.2)
    app = web.Application()
    app[keys.SETTINGS] = dataclasses.replace(settings, history_housekeeping_interval=0.3)
    app[keys.POOL] = pool
    caplog.set_level(logging.INFO, logger="renkei.history")
    try:
        held = await pool.acquire()  # the only connection: the first pass finds none free
        loop = housekeeping(app)
        await loop.__anext__()
        await asyncio.sleep(0.5)
        await pool.release(held)
        await asyncio.sleep(1.0)  # later passes run, with a connection
        running = [t for t in asyncio.all_tasks() if t.get_name() == "history-housekeeping"]
        assert len(running) == 1 and not running[0].done()  # the loop is still there
        with pytest.raises(StopAsyncIteration):
            await loop.__anext__()  # shutdown: no error from the loop
    finally:
        await pool.close()
    failed = [r for r in caplog.records if "housekeeping failed" in r.getMessage()]
    assert failed and all("PoolExhausted" in r.getMessage() for r in failed), failed
    assert not any(r.exc_info for r in failed)  # database trouble: no traceback
    task = [t for t in asyncio.all_tasks() if t.get_name() == "history-housekeeping"]
    assert not task  # cancelled and awaited at shutdown
