"""One LISTEN connection per cache that must hear about changes made by other processes.

Both derived caches (the registry's dataset rules, hosted @context documents) drop what
they hold when PostgreSQL sends a ``NOTIFY`` on their channel, so several hub processes
behave as one. A lost connection is reconnected; ``resync`` runs each time one is made,
since whatever changed while nobody listened was not heard, and ``listening`` tells the
cache whether it may trust what it holds meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

__all__ = ["listen_forever"]

log = logging.getLogger("renkei.db")


async def listen_forever(
    database_url: str, channel: str, notified: Callable[[Any, int, str, str], None], *,
    name: str, resync: Callable[[], None], listening: Callable[[bool], None],
) -> None:
    failures = 0  # in a row: logged once per outage, retried with back-off up to 10 s
    while True:
        con: asyncpg.Connection | None = None
        try:
            con = await asyncpg.connect(database_url,
                                        server_settings={"application_name": name})
            lost = asyncio.Event()
            con.add_termination_listener(lambda _c, ev=lost: ev.set())
            await con.add_listener(channel, notified)
            resync()
            listening(True)
            if failures:
                log.warning("%s restored", name)
            failures = 0
            await lost.wait()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures += 1
            if failures == 1:
                log.warning("%s lost; retrying: %s: %s", name, type(exc).__name__, exc)
        finally:
            listening(False)
            if con is not None and not con.is_closed():
                with contextlib.suppress(Exception):
                    await con.close()
        await asyncio.sleep(min(2.0 ** max(failures - 1, 0), 10.0))
