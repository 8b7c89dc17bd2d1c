"""The token, introspection and revocation endpoints: load with asyncpg, run authlib in an
executor (it is synchronous and CPU-bound: scrypt, signatures), persist afterwards.

Issuer and audience: ``issuer`` (default ``http://<host>:<port>``) is the ``iss`` of our
tokens and the base of every endpoint in the metadata; the audience, ``<issuer>/ngsi-ld``,
names the NGSI-LD API as the resource server (RFC 9068 2.2, RFC 8707).

Failed client authentication is throttled (RFC 6749 10.10 asks the server to resist
guessing credentials): every ``invalid_client`` answer counts against the claimed
``client_id`` and the source address in the shared rate windows, and once either reaches
``auth_failure_limit`` in the current minute the endpoint answers 429 with
``Retry-After`` before checking any credential — so no scrypt work is spent on a guessing
run, and a right guess during the lock-out learns nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from authz.oauth2.rfc6749_client_credentials import (
    FormRequest,
    Preloaded,
    build_server,
    claimed_client_id,
)
from authz.oauth2.rfc9068_access_tokens import InvalidToken, validate_jwt
from authz.repo import clients as clients_repo
from authz.repo import rates as rates_repo
from authz.repo import tokens as tokens_repo
from hub.service.access_state import AccessState
from hub.settings import Settings

__all__ = ["audience_of", "issuer_of", "oauth_endpoint"]

ENDPOINTS = ("token", "introspection", "revocation")


def issuer_of(settings: Settings) -> str:
    return (settings.issuer or f"http://{settings.host}:{settings.port}").rstrip("/")


def audience_of(settings: Settings) -> str:
    return issuer_of(settings) + "/ngsi-ld"


def _transport_uri(issuer: str) -> str:
    """authlib refuses plain-HTTP URIs off loopback; TLS is the reverse proxy's job in
    front of the hub (docs/access-control.md), so authlib is shown the https form."""
    return "https://" + issuer.split("://", 1)[-1] + "/oauth2/token"


_JSON = {"Content-Type": "application/json", "Cache-Control": "no-store"}


def _failure_keys(client_id: str | None, remote: str | None) -> list[str]:
    """The windows a failed authentication counts in: the client it claimed, the
    address it came from (a reverse proxy's address, unless it is the client's own)."""
    keys = [f"auth-fail:addr:{remote or '?'}"]
    if client_id:
        keys.append(f"auth-fail:client:{client_id[:200]}")
    return keys


def _window() -> tuple[datetime, int]:
    """The current one-minute window and the seconds left in it."""
    now = datetime.now(UTC)
    return now.replace(second=0, microsecond=0), max(1, 60 - now.second)


def _throttled(wait: int) -> tuple[int, bytes, dict[str, str]]:
    return 429, orjson.dumps({"error": "invalid_client", "error_description":
                              "too many failed client authentications; retry later"}), {
        **_JSON, "Retry-After": str(wait)}


async def oauth_endpoint(pool: asyncpg.Pool, state: AccessState, settings: Settings,
                         name: str, form: Mapping[str, str],
                         headers: Mapping[str, str],
                         remote: str | None = None) -> tuple[int, bytes, dict[str, str]]:
    issuer = issuer_of(settings)
    pre = Preloaded(issuer=issuer, audience=audience_of(settings),
                    token_endpoint=issuer + "/oauth2/token", lifetime=settings.token_lifetime,
                    purpose=form.get("purpose") or None)
    client_id = claimed_client_id(headers, form)
    fail_keys = _failure_keys(client_id, remote)
    limit = settings.auth_failure_limit
    async with pool.acquire() as con:
        window, wait = _window()
        if limit and await rates_repo.failures(con, window, fail_keys) >= limit:
            return _throttled(wait)
        if client_id:
            pre.client = await clients_repo.get(con, client_id)
        if name != "token" and form.get("token") and state.keyset is not None:
            try:
                pre.token_claims = validate_jwt(form["token"], state.keyset, issuer=issuer,
                                                audience=pre.audience)
                pre.token_revoked = await tokens_repo.is_revoked(con, pre.token_claims["jti"])
            except InvalidToken:
                pre.token_claims = None
    pre.signing_jwk = state.signing_jwk()
    request = FormRequest(_transport_uri(issuer), form, headers)

    def run() -> tuple[int, bytes, dict[str, str]]:
        server = build_server(pre)
        if name == "token":
            result: tuple[int, bytes, dict[str, str]] = server.create_token_response(request)
        else:
            result = server.create_endpoint_response(name, request)
        return result

    status, body, out_headers = await asyncio.get_running_loop().run_in_executor(None, run)
    if status == 200 and (pre.used_jtis or pre.revoked or pre.issued):
        async with pool.acquire() as con, con.transaction():
            if pre.used_jtis and not await tokens_repo.record_assertion_jtis(con, pre.used_jtis):
                status, body, out_headers = 401, orjson.dumps({
                    "error": "invalid_client",
                    "error_description": "the client assertion was already used"}), dict(_JSON)
                pre.revoked = []
            else:
                for jti, exp in pre.revoked:
                    await tokens_repo.revoke(con, jti, exp)
                if pre.issued:
                    await tokens_repo.record_issued(con, pre.issued)
        for jti, _ in pre.revoked:
            state.revoked.add(jti)  # at once in this process; the others at their refresh
    if limit and status in (400, 401) and orjson.loads(body).get("error") == "invalid_client":
        async with pool.acquire() as con:
            await rates_repo.add_failure(con, _window()[0], fail_keys)
    if status == 401 and "WWW-Authenticate" not in out_headers:
        out_headers["WWW-Authenticate"] = 'Basic realm="renkei"'
    return status, body, out_headers


def public_jwks(state: AccessState) -> dict[str, Any]:
    from datetime import UTC, datetime

    from authz.signing_keys import public_jwks as jwks

    return jwks(state.keys, datetime.now(UTC))
