"""``renkei client …``, ``renkei grant …`` and ``renkei keys rotate``: the operator's
side of access control, straight on the database (``RENKEI_DATABASE_URL`` or
``--database-url``; the embedded PostgreSQL in ``data_dir`` otherwise).

The output is JSON, so it scripts: ``renkei client create`` prints the client and its
secret, which is shown this once and never stored in clear.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from authz.repo import clients as clients_repo
from authz.repo import grants as grants_repo
from hub.db.migrations import apply_all
from hub.errors import NgsiLdError
from hub.service import admin
from hub.settings import Settings

__all__ = ["add_commands", "run"]


def add_commands(sub: Any) -> None:
    client = sub.add_parser("client", help="OAuth clients of organisations")
    csub = client.add_subparsers(dest="authz_command", required=True)
    create = csub.add_parser("create", help="create a client; prints its secret once")
    create.add_argument("--org", required=True, help="owning organisation (registry id)")
    create.add_argument("--name", required=True)
    create.add_argument("--scopes", default="read",
                        help="comma-separated: read, write, subscribe, manage")
    create.add_argument("--auth-method", default="client_secret_basic",
                        choices=["client_secret_basic", "client_secret_post",
                                 "private_key_jwt"])
    create.add_argument("--jwks", type=Path, help="public JWKS file (private_key_jwt)")
    create.add_argument("--rate", type=int, help="requests per minute (the CLI is the"
                        " operator: max_rate_per_minute does not bind it)")
    lst = csub.add_parser("list", help="list clients")
    lst.add_argument("--org")
    rotate = csub.add_parser("rotate", help="new secret (or new public keys)")
    rotate.add_argument("client_id")
    rotate.add_argument("--jwks", type=Path)
    rotate.add_argument("--revoke-tokens", action="store_true",
                        help="also revoke every live token of the client")
    delete = csub.add_parser("delete", help="delete a client; its tokens stop")
    delete.add_argument("client_id")

    grant = sub.add_parser("grant", help="access grants and their approval")
    gsub = grant.add_subparsers(dest="authz_command", required=True)
    req = gsub.add_parser("request", help="request access for a consumer organisation")
    req.add_argument("--consumer", required=True, help="consumer organisation")
    req.add_argument("--dataset")
    req.add_argument("--owner", help="owner organisation (with --entity-type)")
    req.add_argument("--entity-type", help="full entity type IRI (with --owner)")
    req.add_argument("--actions", default="read", help="comma-separated: read, subscribe")
    req.add_argument("--attributes", help="comma-separated full attribute IRIs")
    req.add_argument("--purpose", required=True)
    req.add_argument("--from", dest="valid_from", required=True, help="ISO 8601 date-time")
    req.add_argument("--until", dest="valid_until", required=True)
    req.add_argument("--granularity", default="raw", choices=["raw", "aggregated"])
    req.add_argument("--min-group-size", type=int)
    req.add_argument("--client", help="only this client of the consumer")
    req.add_argument("--rate", type=int, help="requests per minute (the CLI is the"
                     " operator: max_rate_per_minute does not bind it)")
    for verb in ("approve", "reject", "revoke"):
        p = gsub.add_parser(verb, help=f"{verb} a grant")
        p.add_argument("grant_id")
        p.add_argument("--reason")
        p.add_argument("--by", default="operator")
    glist = gsub.add_parser("list", help="list grants")
    glist.add_argument("--org")
    glist.add_argument("--status", choices=["requested", "approved", "rejected", "revoked"])

    keys = sub.add_parser("keys", help="token signing keys")
    ksub = keys.add_subparsers(dest="authz_command", required=True)
    ksub.add_parser("rotate", help="a new signing key; the old one verifies until its"
                                   " tokens expire")
    for p in (create, lst, rotate, delete, req, glist, *gsub.choices.values(),
              *ksub.choices.values()):
        if not any(a.dest == "database_url" for a in p._actions):
            p.add_argument("--database-url")


def _csv(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _jwks(path: Path | None) -> Any:
    return orjson.loads(path.read_bytes()) if path else None


async def _client(con: asyncpg.Connection, a: argparse.Namespace) -> Any:
    cmd = a.authz_command
    if cmd == "create":
        body = {"name": a.name, "scopes": _csv(a.scopes), "auth_method": a.auth_method,
                "jwks": _jwks(a.jwks), "rate_per_minute": a.rate}
        client, secret = await admin.create_client(con, {k: v for k, v in body.items()
                                                         if v is not None}, a.org)
        return admin.client_view(client, secret)
    if cmd == "list":
        return [admin.client_view(c) for c in await clients_repo.list_for(con, a.org)]
    found = await clients_repo.get(con, a.client_id)
    if found is None:
        raise SystemExit(f"no client {a.client_id}")
    if cmd == "rotate":
        return admin.client_view(found, await admin.rotate_client(
            con, found, _jwks(a.jwks), revoke_tokens=a.revoke_tokens))
    await admin.delete_client(con, a.client_id)
    return {"deleted": a.client_id}


async def _grant(con: asyncpg.Connection, a: argparse.Namespace) -> Any:
    cmd = a.authz_command
    if cmd == "request":
        body = {"dataset": a.dataset, "owner": a.owner, "entity_type": a.entity_type,
                "actions": _csv(a.actions), "attributes": _csv(a.attributes),
                "purpose": a.purpose, "valid_from": a.valid_from, "valid_until": a.valid_until,
                "granularity": a.granularity, "min_group_size": a.min_group_size,
                "consumer_client": a.client, "rate_per_minute": a.rate}
        return await admin.request_grant(con, {k: v for k, v in body.items() if v is not None},
                                         a.consumer, "operator")
    if cmd == "list":
        return [admin.grant_view(r) for r in
                await grants_repo.list_grants(con, organisation=a.org, status=a.status)]
    status = {"approve": "approved", "reject": "rejected", "revoke": "revoked"}[cmd]
    return await admin.set_grant_status(con, a.grant_id, status, a.by, a.reason, None)


async def _run(a: argparse.Namespace, work: Callable[[asyncpg.Connection,
                                                      argparse.Namespace], Awaitable[Any]],
               settings: Settings) -> Any:
    url = settings.database_url
    embedded = None
    if not url:
        from hub.db.embedded import EmbeddedPostgres

        embedded = EmbeddedPostgres(settings.data_dir)
        url = await asyncio.get_running_loop().run_in_executor(None, embedded.start)
    try:
        from hub.db.pool import create_pool

        pool = await create_pool(url, 1, 1)  # the hub's codecs (jsonb as Python objects)
        try:
            async with pool.acquire() as con:
                await apply_all(con)
                async with con.transaction():
                    return await work(con, a)
        finally:
            await pool.close()
    finally:
        if embedded is not None:
            embedded.stop()


async def _keys(con: asyncpg.Connection, a: argparse.Namespace) -> Any:
    return {"retired": await admin.rotate_signing_key(con, Settings.from_env().token_lifetime)}


def run(a: argparse.Namespace) -> None:
    settings = Settings.from_env(database_url=getattr(a, "database_url", None))
    work = {"client": _client, "grant": _grant, "keys": _keys}[a.command]
    try:
        out = asyncio.run(_run(a, work, settings))
    except NgsiLdError as err:
        sys.stderr.write(f"renkei {a.command} {a.authz_command}: {err.detail}\n")
        raise SystemExit(2) from None
    sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
