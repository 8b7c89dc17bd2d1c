"""NGSI-LD endpoints the hub does not implement: 501, not 404.

A client probing for a feature (the temporal batch query, ``/info/conformance``) learns that the
operation exists in the API but not in this broker, and stops retrying, where a 404 would
read as "wrong URL" or "no such entity". The problem type is NGSI-LD's
``OperationNotSupported``; the status is HTTP's 501 Not Implemented (RFC 9110 15.6.2),
as Orion-LD answers for the parts it lacks (docs/conformance.md, "Not implemented").
Each route needs what the real operation would (hub/service/route_policy.py), so an
anonymous probe of a write learns nothing more than 401.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from hub.api.entities import BASE
from hub.errors import NgsiLdError

__all__ = ["NOT_IMPLEMENTED", "NotImplementedOperation", "routes"]

routes = web.RouteTableDef()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class NotImplementedOperation(NgsiLdError):
    """An operation of the NGSI-LD API this broker does not implement."""

    problem_type = "https://uri.etsi.org/ngsi-ld/errors/OperationNotSupported"
    status = 501
    title = "Not Implemented"


#: (path under the NGSI-LD base, methods, what the operation is) — every one answers 501
NOT_IMPLEMENTED: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("/info/conformance", ("GET",), "the conformance information resource"),
)


def _handler(what: str) -> Handler:
    async def not_implemented(request: web.Request) -> web.StreamResponse:
        raise NotImplementedOperation(f"{request.method} {request.path}: {what}: not "
                                      "implemented by this broker (docs/conformance.md)")
    return not_implemented


for _path, _methods, _what in NOT_IMPLEMENTED:
    for _method in _methods:
        routes.route(_method, BASE + _path)(_handler(_what))
