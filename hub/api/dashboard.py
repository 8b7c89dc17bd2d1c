"""``/dashboard/``: the flood-watch page for the prefecture's operators (issue #16).

The page is static (``hub/static/dashboard/``): HTML, one script, one stylesheet, all
vendored, nothing fetched from the internet. It holds no data itself; its script reads
the hub's public NGSI-LD API from the browser, so every call carries the *viewer's* rights
(in development mode none are needed; in enforcing mode the page asks for a bearer token
and keeps it in memory only). That is why the routes are ``public`` in
``hub/service/route_policy.py``: serving the files reveals nothing.

Only the listed files are served (no directory walk, no path from the request reaches the
file system), each with a Content-Security-Policy that lets the page talk to this origin
only.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

from hub.errors import ResourceNotFound

__all__ = ["ASSETS", "routes"]

routes = web.RouteTableDef()

#: file name -> media type: the only files served
ASSETS = {
    "index.html": "text/html",
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
}
_HEADERS = {
    # the page's script and style come from this hub; its API calls go back to it only
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _asset(name: str) -> web.Response:
    media = ASSETS.get(name)
    if media is None:
        raise ResourceNotFound(f"no dashboard file {name!r}")
    body = (resources.files("hub") / "static" / "dashboard" / name).read_bytes()
    return web.Response(body=body, content_type=media, charset="utf-8", headers=_HEADERS)


@routes.get("/dashboard")
async def bare(request: web.Request) -> web.Response:
    """Relative asset paths need the trailing slash."""
    raise web.HTTPPermanentRedirect("/dashboard/")


@routes.get("/dashboard/")
async def index(request: web.Request) -> web.Response:
    return _asset("index.html")


@routes.get("/dashboard/{asset}")
async def asset(request: web.Request) -> web.Response:
    return _asset(request.match_info["asset"])
