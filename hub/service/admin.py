"""Managing clients and grants, shared by the management API and the CLI.

Clients: a secret is generated, returned once and stored only hashed (scrypt, in an
executor). Grants: requested by the consumer, approved or rejected by the owner, revoked
by either; only ``approved`` grants are loaded by the access state.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import asyncpg

from authz.model import Client
from authz.policies import covers_personal_data
from authz.repo import clients as clients_repo
from authz.repo import grants as grants_repo
from authz.repo import tokens as tokens_repo
from authz.requests import check_public_jwks, client_from, grant_from
from authz.secrets import hash_secret, new_secret
from hub.errors import BadRequestData, Forbidden, ResourceNotFound
from hub.service.catalogue import load_catalogue, load_organisations

__all__ = ["check_rate", "client_view", "create_client", "delete_client", "grant_view",
           "is_operator", "operators", "request_grant", "rotate_client", "set_grant_status"]


def operators(settings: Any) -> frozenset[str]:
    """The platform operator's organisations: configured (``operator_organisations``),
    never inferred from the shape of a registry id (an ``NN000x`` code is a prefecture,
    not necessarily the operator)."""
    raw = str(getattr(settings, "operator_organisations", "") or "")
    return frozenset(x.strip() for x in raw.split(",") if x.strip())


def is_operator(settings: Any, organisation: str | None) -> bool:
    return organisation is not None and organisation in operators(settings)


def check_rate(body: dict[str, Any], ceiling: int | None) -> None:
    """Refuse a ``rate_per_minute`` above ``ceiling`` (``max_rate_per_minute``); None:
    the operator (its API calls and the CLI on the database), who may set any rate."""
    rate = body.get("rate_per_minute")
    if ceiling is not None and isinstance(rate, int) and rate > ceiling:
        raise Forbidden(f"rate_per_minute above {ceiling} needs the platform operator")


async def _hash(secret: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(None, hash_secret, secret)


def client_view(c: Client, secret: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"client_id": c.client_id, "organisation": c.organisation,
                           "name": c.name, "auth_method": c.auth_method,
                           "scopes": list(c.scopes), "rate_per_minute": c.rate_per_minute}
    if c.created_at is not None:
        out["created_at"] = c.created_at.isoformat()
    if secret is not None:
        out["client_secret"] = secret  # shown once, never again
    return out


async def create_client(con: asyncpg.Connection, body: dict[str, Any], organisation: str,
                        *, ceiling: int | None = None) -> tuple[Client, str | None]:
    """A new client of a registered organisation; its rate at most ``ceiling`` (None: the
    operator's tools, no ceiling)."""
    check_rate(body, ceiling)
    known = await load_organisations(con)
    if known is not None and organisation not in known:
        raise BadRequestData(f"organisation {organisation} is not in the registry: a client"
                             " belongs to a registered organisation")
    client_id = "rk-" + secrets.token_urlsafe(12)
    secret = new_secret() if body.get("auth_method") != "private_key_jwt" else None
    try:
        client = client_from(body, organisation, client_id,
                             await _hash(secret) if secret else None)
    except ValueError as exc:
        raise BadRequestData(str(exc)) from None
    await clients_repo.insert(con, client)
    return client, secret


async def rotate_client(con: asyncpg.Connection, client: Client,
                        jwks: dict[str, Any] | None = None, *,
                        revoke_tokens: bool = False) -> str | None:
    """A new secret (or new public keys for private_key_jwt); the old one stops at once.
    ``revoke_tokens``: the client's live access tokens are revoked too (a leaked secret
    may have minted some), within the revocation bound."""
    if client.auth_method == "private_key_jwt":
        try:
            check_public_jwks(jwks)
        except ValueError as exc:
            raise BadRequestData(f"rotating a private_key_jwt client: {exc}") from None
        await clients_repo.set_credentials(con, client.client_id, None, jwks)
        secret = None
    else:
        secret = new_secret()
        await clients_repo.set_credentials(con, client.client_id, await _hash(secret), None)
    if revoke_tokens:
        await tokens_repo.revoke_client_tokens(con, client.client_id)
    return secret


async def delete_client(con: asyncpg.Connection, client_id: str) -> None:
    """Delete the client; its live tokens stop within the revocation bound (the access
    state forgets tokens of clients that no longer exist)."""
    if not await clients_repo.delete(con, client_id):
        raise ResourceNotFound(f"no client {client_id}")


def grant_view(row: Any) -> dict[str, Any]:
    out = dict(row)
    for k, v in list(out.items()):
        if hasattr(v, "isoformat"):
            out[k] = v.isoformat()
        elif isinstance(v, tuple):
            out[k] = list(v)
    return out


async def request_grant(con: asyncpg.Connection, body: dict[str, Any], consumer_org: str,
                        requested_by: str, *, ceiling: int | None = None) -> dict[str, Any]:
    """A grant request; its rate at most ``ceiling`` (None: the operator's tools)."""
    check_rate(body, ceiling)
    datasets = {d.id: d for d in await load_catalogue(con)}
    ds = body.get("dataset")
    info = datasets.get(ds) if isinstance(ds, str) else None
    personal = covers_personal_data(ds, body.get("owner"), body.get("entity_type"),
                                    datasets.values())
    try:
        grant = grant_from(body, consumer_org, owner_of_dataset=info.owner if info else None,
                           personal_data=personal)
    except ValueError as exc:
        raise BadRequestData(str(exc)) from None
    await grants_repo.insert(con, grant, requested_by)
    row = await grants_repo.get(con, grant.id)
    return grant_view(row)


_TRANSITIONS = {"approved": ("requested",), "rejected": ("requested",),
                "revoked": ("approved", "requested")}


async def set_grant_status(con: asyncpg.Connection, grant_id: str, status: str, by: str,
                           reason: str | None, acting_org: str | None) -> dict[str, Any]:
    """Approve / reject (the owner) or revoke (owner or consumer). ``acting_org`` None:
    the operator's CLI, which may decide any grant."""
    row = await grants_repo.get(con, grant_id)
    if row is None:
        raise ResourceNotFound(f"no grant {grant_id}")
    allowed = {row["owner_org"]} | ({row["consumer_org"]} if status == "revoked" else set())
    if acting_org is not None and acting_org not in allowed:
        raise ResourceNotFound(f"no grant {grant_id}")  # not yours: as if it did not exist
    if (status == "approved" and row["granularity"] == "raw" and covers_personal_data(
            row["dataset"], row["owner_org"], row["entity_type"], await load_catalogue(con))):
        # the dataset may have become personal since the request
        raise BadRequestData("a personal-data dataset is only granted aggregated")
    updated = await grants_repo.decide(con, grant_id, status, by, reason, _TRANSITIONS[status])
    if updated is None:
        raise BadRequestData(f"a {row['status']} grant cannot become {status}")
    return grant_view(updated)


async def rotate_signing_key(con: asyncpg.Connection, lifetime: int) -> int:
    """Add a key that signs from now on; older ones verify one more token lifetime."""
    await tokens_repo.add_key(con, only_if_none=False)
    return await tokens_repo.retire_keys(con, except_newest=True, lifetime=lifetime)
