"""SQL for signing keys, issued and revoked tokens and used client-assertion ``jti``s."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from authz.signing_keys import ALG, SigningKey, generate_key

__all__ = [
    "add_key",
    "is_revoked",
    "keys",
    "record_assertion_jtis",
    "record_issued",
    "retire_keys",
    "revoke",
    "revoke_client_tokens",
    "revoked_since",
]

_LOCK = 0x415554485A  # one key generator at a time across processes


def _key(row: asyncpg.Record) -> SigningKey:
    return SigningKey(kid=row["kid"], private_jwk=row["private_jwk"],
                      public_jwk=row["public_jwk"], created_at=row["created_at"],
                      retired_at=row["retired_at"], verify_until=row["verify_until"])


async def keys(con: asyncpg.Connection) -> list[SigningKey]:
    rows = await con.fetch(
        "SELECT kid, private_jwk, public_jwk, created_at, retired_at, verify_until"
        " FROM authz.signing_keys WHERE verify_until IS NULL OR verify_until > now()"
        " ORDER BY created_at")
    return [_key(r) for r in rows]


async def add_key(con: asyncpg.Connection, *, only_if_none: bool) -> bool:
    """Add a signing key (``only_if_none``: unless one is active). Serialised by an
    advisory lock so processes starting together create one key, not several."""
    async with con.transaction():
        await con.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
        if only_if_none and await con.fetchval(
                "SELECT count(*) FROM authz.signing_keys WHERE retired_at IS NULL"):
            return False
        kid, private, public = generate_key()
        await con.execute(
            "INSERT INTO authz.signing_keys (kid, alg, private_jwk, public_jwk)"
            " VALUES ($1, $2, $3, $4)", kid, ALG, private, public)
        return True


async def retire_keys(con: asyncpg.Connection, except_newest: bool, lifetime: int) -> int:
    """Retire every active key but the newest: it stops signing now and verifies for
    one more token lifetime."""
    done = await con.execute(
        "UPDATE authz.signing_keys SET retired_at = now(),"
        " verify_until = now() + make_interval(secs => $1)"
        " WHERE retired_at IS NULL AND ($2 = false OR kid <> (SELECT kid FROM"
        " authz.signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1))",
        float(lifetime), except_newest)
    return int(done.split()[-1])


async def record_assertion_jtis(con: asyncpg.Connection,
                                jtis: list[tuple[str, str, int]]) -> bool:
    """Insert used assertion ``jti``s; False if any was already used (a replay)."""
    await con.execute("DELETE FROM authz.assertion_jtis WHERE expires_at < now()")
    for client_id, jti, exp in jtis:
        inserted = await con.fetchval(
            "INSERT INTO authz.assertion_jtis (client_id, jti, expires_at)"
            " VALUES ($1, $2, to_timestamp($3)) ON CONFLICT DO NOTHING RETURNING 1",
            client_id, jti, float(exp) + 60)
        if inserted is None:
            return False
    return True


async def revoke(con: asyncpg.Connection, jti: str, exp: int) -> None:
    await con.execute(
        "INSERT INTO authz.revoked_tokens (jti, expires_at) VALUES ($1, to_timestamp($2))"
        " ON CONFLICT DO NOTHING", jti, float(exp))


async def is_revoked(con: asyncpg.Connection, jti: str) -> bool:
    return bool(await con.fetchval(
        "SELECT EXISTS (SELECT 1 FROM authz.revoked_tokens WHERE jti = $1)", jti))


async def revoked_since(con: asyncpg.Connection,
                        since: datetime | None) -> tuple[list[str], datetime | None]:
    """Revoked jtis (all live ones, or those revoked after ``since``) and the newest time."""
    rows = await con.fetch(
        "SELECT jti, revoked_at FROM authz.revoked_tokens WHERE expires_at > now()"
        " AND ($1::timestamptz IS NULL OR revoked_at >= $1)", since)
    newest = max((r["revoked_at"] for r in rows), default=since)
    return [r["jti"] for r in rows], newest


async def record_issued(con: asyncpg.Connection, issued: list[tuple[str, str, int]]) -> None:
    """Remember issued tokens (client, jti, exp) until they expire, so a client's live
    tokens can be revoked together (``revoke_client_tokens``); expired ones are dropped."""
    await con.execute("DELETE FROM authz.issued_tokens WHERE expires_at < now()")
    await con.executemany(
        "INSERT INTO authz.issued_tokens (client_id, jti, expires_at)"
        " VALUES ($1, $2, to_timestamp($3)) ON CONFLICT DO NOTHING",
        [(c, j, float(e)) for c, j, e in issued])


async def revoke_client_tokens(con: asyncpg.Connection, client_id: str) -> int:
    """Revoke every unexpired token issued to ``client_id`` (the revoked-token store every
    process reloads, so within the revocation bound); the number revoked."""
    done = await con.execute(
        "INSERT INTO authz.revoked_tokens (jti, expires_at) SELECT jti, expires_at"
        " FROM authz.issued_tokens WHERE client_id = $1 AND expires_at > now()"
        " ON CONFLICT DO NOTHING", client_id)
    return int(done.split()[-1])
