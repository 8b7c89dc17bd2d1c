"""SQL for request-rate windows (``authz.rate_windows``), summed over hub processes."""

from __future__ import annotations

from datetime import datetime

import asyncpg

__all__ = ["add_counts"]


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
