"""SQL for OAuth clients (``authz.clients``)."""

from __future__ import annotations

from typing import Any

import asyncpg

from authz.model import Client

__all__ = ["delete", "get", "insert", "list_for", "rates", "set_credentials"]

_COLS = ("client_id, organisation, name, auth_method, scopes, secret_hash, jwks,"
         " rate_per_minute, created_at")


def _client(row: asyncpg.Record) -> Client:
    return Client(client_id=row["client_id"], organisation=row["organisation"],
                  name=row["name"], auth_method=row["auth_method"],
                  scopes=tuple(row["scopes"]), secret_hash=row["secret_hash"],
                  jwks=row["jwks"], rate_per_minute=row["rate_per_minute"],
                  created_at=row["created_at"])


async def insert(con: asyncpg.Connection, c: Client) -> None:
    await con.execute(
        "INSERT INTO authz.clients (client_id, organisation, name, auth_method, scopes,"
        " secret_hash, jwks, rate_per_minute) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        c.client_id, c.organisation, c.name, c.auth_method, list(c.scopes), c.secret_hash,
        c.jwks, c.rate_per_minute)


async def get(con: asyncpg.Connection, client_id: str) -> Client | None:
    row = await con.fetchrow(f"SELECT {_COLS} FROM authz.clients WHERE client_id = $1",
                             client_id)
    return _client(row) if row else None


async def list_for(con: asyncpg.Connection, organisation: str | None) -> list[Client]:
    rows = await con.fetch(
        f"SELECT {_COLS} FROM authz.clients WHERE $1::text IS NULL OR organisation = $1"
        " ORDER BY created_at, client_id", organisation)
    return [_client(r) for r in rows]


async def set_credentials(con: asyncpg.Connection, client_id: str, secret_hash: str | None,
                          jwks: dict[str, Any] | None) -> bool:
    done = await con.execute(
        "UPDATE authz.clients SET secret_hash = $2, jwks = coalesce($3, jwks),"
        " rotated_at = now() WHERE client_id = $1", client_id, secret_hash, jwks)
    return bool(done != "UPDATE 0")


async def delete(con: asyncpg.Connection, client_id: str) -> bool:
    return bool(await con.execute("DELETE FROM authz.clients WHERE client_id = $1",
                                  client_id) != "DELETE 0")


async def rates(con: asyncpg.Connection) -> dict[str, int | None]:
    """Every client's id and request rate: which clients exist, for token checks."""
    rows = await con.fetch("SELECT client_id, rate_per_minute FROM authz.clients")
    return {r["client_id"]: r["rate_per_minute"] for r in rows}
