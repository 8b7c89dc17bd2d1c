"""OAuth 2 endpoints of the hub's authorization server: token (RFC 6749 4.4), JWKS,
introspection (RFC 7662), revocation (RFC 7009), metadata (RFC 8414 3).

These answer OAuth's own JSON error shape (RFC 6749 5.2), not NGSI-LD problem details:
OAuth clients expect ``error`` / ``error_description``.
"""

from __future__ import annotations

from aiohttp import web

from authz.oauth2.rfc8414_metadata import metadata
from hub import keys
from hub.service.oauth import issuer_of, oauth_endpoint, public_jwks

__all__ = ["routes"]

routes = web.RouteTableDef()
_FORM = "application/x-www-form-urlencoded"


async def _form_endpoint(request: web.Request, name: str) -> web.Response:
    if request.content_type != _FORM:
        return web.json_response({"error": "invalid_request",
                                  "error_description": f"the body must be {_FORM}"},
                                 status=400)
    form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    status, body, headers = await oauth_endpoint(
        request.app[keys.POOL], request.app[keys.ACCESS], request.app[keys.SETTINGS], name,
        form, request.headers, request.remote)
    headers.pop("Content-Type", None)
    return web.Response(status=status, body=body, headers=headers,
                        content_type="application/json")


@routes.post("/oauth2/token")
async def token(request: web.Request) -> web.Response:
    return await _form_endpoint(request, "token")


@routes.post("/oauth2/introspect")
async def introspect(request: web.Request) -> web.Response:
    return await _form_endpoint(request, "introspection")


@routes.post("/oauth2/revoke")
async def revoke(request: web.Request) -> web.Response:
    return await _form_endpoint(request, "revocation")


@routes.get("/oauth2/jwks")
async def jwks(request: web.Request) -> web.Response:
    return web.json_response(public_jwks(request.app[keys.ACCESS]),
                             headers={"Cache-Control": "max-age=60"})


@routes.get("/.well-known/oauth-authorization-server")
async def server_metadata(request: web.Request) -> web.Response:
    return web.json_response(metadata(issuer_of(request.app[keys.SETTINGS])))
