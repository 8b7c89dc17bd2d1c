"""``renkei client …`` and ``renkei grant …`` as an operator runs them, on the database."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from tests.integration.authz_world import FIRM, NAGANO, register, reset_authz

ROOT = Path(__file__).resolve().parents[2]


def renkei(url: str, *args: str, ok: bool = True) -> Any:
    out = subprocess.run([sys.executable, "-m", "hub", *args, "--database-url", url],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert (out.returncode == 0) == ok, out.stdout + out.stderr
    return orjson.loads(out.stdout) if ok else out.stderr


async def _setup(url: str) -> None:
    await reset_authz(url)
    from hub.db.migrations import apply_all

    con = await asyncpg.connect(url)
    try:
        await apply_all(con)
    finally:
        await con.close()
    from hub.db.pool import create_pool

    pool = await create_pool(url, 1, 1)
    try:
        await register(pool)
    finally:
        await pool.close()


def test_client_and_grant_commands(database_url: str) -> None:
    asyncio.run(_setup(database_url))
    made = renkei(database_url, "client", "create", "--org", FIRM, "--name", "flood app",
                  "--scopes", "read,subscribe")
    assert made["client_secret"] and made["organisation"] == FIRM
    listed = renkei(database_url, "client", "list", "--org", FIRM)
    assert [c["client_id"] for c in listed] == [made["client_id"]]
    assert "client_secret" not in listed[0]
    rotated = renkei(database_url, "client", "rotate", made["client_id"])
    assert rotated["client_secret"] != made["client_secret"]
    grant = renkei(database_url, "grant", "request", "--consumer", FIRM, "--dataset",
                   "nagano-rain", "--purpose", "flood-app", "--from", "2026-01-01T00:00:00Z",
                   "--until", "2099-01-01T00:00:00Z")
    assert grant["status"] == "requested" and grant["owner_org"] == NAGANO
    err = renkei(database_url, "grant", "request", "--consumer", FIRM, "--dataset",
                 "no-such", "--purpose", "x", "--from", "2026-01-01T00:00:00Z", "--until",
                 "2099-01-01T00:00:00Z", ok=False)
    assert "no dataset" in err
    approved = renkei(database_url, "grant", "approve", grant["id"], "--reason", "ok")
    assert approved["status"] == "approved" and approved["reason"] == "ok"
    assert [g["id"] for g in renkei(database_url, "grant", "list", "--status",
                                    "approved")] == [grant["id"]]
    renkei(database_url, "grant", "reject", grant["id"], ok=False)  # approved: too late
    assert renkei(database_url, "client", "delete", made["client_id"])["deleted"]
    assert renkei(database_url, "client", "list", "--org", FIRM) == []
