"""SQL for request-rate windows (``authz.rate_windows``), summed over hub processes.

The same windows count failed client authentications (keys ``auth-fail:…``): written at
once, not batched, so a password-guessing run is throttled across every process without
waiting for a refresh — failures are rare, so the statement per failure costs nothing in
normal operation.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

__all__ = ["add_counts", "add_failure", "failures"]


async def add_counts(con: asyncpg.Connection, window: datetime,
                     counts: dict[str, int]) -> dict[str, int]:
    """Add this process's counts for ``window``; return every client's total in it."""
    if counts:
        await con.execute(
            "INSERT INTO authz.rate_windows AS r (client_id, window_start, count)"
            " SELECT k, $1, v FROM unnest($2::text[], $3::bigint[]) AS u(k, v)"
            " ON CONFLICT (client_id, window_start) DO UPDATE SET count = r.count + EXCLUDED.count",
            window, list(counts), list(counts.values()))
    await con.execute("DELETE FROM authz.rate_windows WHERE window_start < $1::timestamptz"
                      " - interval '5 minutes'", window)
    rows = await con.fetch("SELECT client_id, count FROM authz.rate_windows"
                           " WHERE window_start = $1", window)
    return {r["client_id"]: int(r["count"]) for r in rows}


async def failures(con: asyncpg.Connection, window: datetime, keys: list[str]) -> int:
    """The most failures any of ``keys`` has in ``window``."""
    return int(await con.fetchval(
        "SELECT coalesce(max(count), 0) FROM authz.rate_windows"
        " WHERE window_start = $1 AND client_id = ANY($2::text[])", window, keys))


async def add_failure(con: asyncpg.Connection, window: datetime, keys: list[str]) -> None:
    """Count one failed authentication against each of ``keys`` in ``window``."""
    await con.execute(
        "INSERT INTO authz.rate_windows AS r (client_id, window_start, count)"
        " SELECT k, $1, 1 FROM unnest($2::text[]) AS k"
        " ON CONFLICT (client_id, window_start) DO UPDATE SET count = r.count + 1",
        window, keys)
