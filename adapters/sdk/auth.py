"""Authenticating an adapter as its organisation's OAuth 2 client.

With access control on, an adapter writes as the client its organisation registered
(``renkei authz``): the client-credentials grant (RFC 6749 4.4) at the hub's token endpoint
gives a bearer token, which the sink and the registry client send. One token per run: a
run that outlives the token's lifetime is refused with 401 and resumes on the next run.
"""

from __future__ import annotations

import base64

import aiohttp

from adapters.sdk.refusals import hub_base

__all__ = ["client_credentials_token"]


async def client_credentials_token(session: aiohttp.ClientSession, hub: str, client_id: str,
                                   client_secret: str, scope: str | None = None) -> str:
    """An access token for the client, from ``{hub}/oauth2/token``."""
    form = {"grant_type": "client_credentials"}
    if scope:
        form["scope"] = scope
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    async with session.post(hub_base(hub) + "/oauth2/token", data=form,
                            headers={"Authorization": f"Basic {basic}"}) as r:
        body = await r.json(content_type=None)
        if r.status != 200 or "access_token" not in body:
            raise PermissionError(f"token endpoint refused client {client_id} ({r.status}): "
                                  f"{body.get('error', body) if isinstance(body, dict) else body}")
        token: str = body["access_token"]
        return token
