"""Wiring of access control into the application: the middleware, the OAuth and
management routes, and the access state's life cycle (``install(app)``, called once by
``create_app``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from authz.external import ExternalIssuers, parse_issuers
from hub import keys
from hub.service.access import access_middleware, caller_organisation
from hub.service.access_state import AccessState

__all__ = ["install"]

log = logging.getLogger("renkei.authz")


async def _access(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    if settings.auth_mode not in ("enforce", "dev"):
        raise ValueError(f"auth_mode must be enforce or dev, not {settings.auth_mode!r}")
    if settings.auth_mode == "dev":
        log.warning("DEVELOPMENT MODE: ACCESS CONTROL IS OFF — every caller may read and "
                    "write everything. Never run this in production (RENKEI_AUTH_MODE=dev).")
    state = AccessState(app[keys.POOL], settings.authz_refresh, settings.token_lifetime)
    await state.start()
    app[keys.ACCESS] = state
    issuers = parse_issuers(settings.external_issuers)
    if issuers:
        app[keys.EXTERNAL] = ExternalIssuers(issuers, app[keys.HTTP],
                                             settings.context_fetch_timeout)
        log.info("external token issuers accepted", extra={"issuers": sorted(issuers)})
    try:
        yield
    finally:
        await state.stop()


def install(app: web.Application) -> None:
    from hub.api import authz, oauth2

    app.middlewares.append(access_middleware(keys.ACCESS, keys.SETTINGS, keys.EXTERNAL))
    plug_in = getattr(keys, "CALLER_ORGANISATION", None)  # the registry's identity plug-in
    if plug_in is not None:
        app[plug_in] = caller_organisation
    # right after the pool and the HTTP client, before anything that serves or delivers
    names = [getattr(c, "__name__", "") for c in app.cleanup_ctx]
    at = names.index("_http_client") + 1 if "_http_client" in names else len(names)
    app.cleanup_ctx.insert(at, _access)
    app.add_routes(oauth2.routes)
    app.add_routes(authz.routes)
