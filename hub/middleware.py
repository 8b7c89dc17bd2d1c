"""The one error renderer: every exception leaves the hub as NGSI-LD problem details.

It is also the one place where failures of the database become answers: a statement
cancelled by ``statement_timeout``, a wait for a pooled connection that ran out
(``PoolExhausted``) and a database out of reach (refused, restarting, a connection dropped
mid-statement) are all ``503 ServiceUnavailable`` with ``Retry-After`` — the same request
can succeed later, so it is not a 500 — and an outage is logged once per change of state
(``hub/db/pool.py`` ``DatabaseWatch``), never once per request. A ``Content-Length`` over
``max_body_bytes`` is refused (413) before a byte of the body is read."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import asyncpg
import orjson
from aiohttp import web

from hub import keys
from hub.db.pool import DatabaseUnavailable, PoolExhausted, is_connection_error
from hub.errors import (
    AlreadyExists,
    BadRequestData,
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    NgsiLdError,
    PayloadTooLarge,
    ResourceNotFound,
    ServiceUnavailable,
)

__all__ = ["error_middleware", "problem_response"]

log = logging.getLogger("renkei.api")
#: what a client is asked to wait during an outage: the watch probes every <= 5 s
OUTAGE_RETRY_AFTER = 5
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def problem_response(err: NgsiLdError) -> web.Response:
    resp = web.Response(
        status=err.status,
        body=orjson.dumps(err.to_problem()),
        content_type="application/json",
    )
    for key, value in err.headers.items():
        resp.headers[key] = value
    return resp


def _from_database(exc: asyncpg.PostgresError) -> NgsiLdError:
    """Map database errors to API errors in one place."""
    if isinstance(exc, asyncpg.UniqueViolationError):
        return AlreadyExists("the resource already exists")
    if isinstance(exc, asyncpg.QueryCanceledError):  # statement_timeout (hub/db/pool.py)
        return ServiceUnavailable("the query ran past the statement timeout; narrow it or"
                                  " retry later")
    if isinstance(exc, asyncpg.InvalidRegularExpressionError):
        return InvalidRequest(f"invalid regular expression: {exc}")
    if isinstance(exc, asyncpg.DataError):
        return InvalidRequest(f"invalid value: {exc}")
    return InternalError("database error")


def _unavailable(request: web.Request, exc: BaseException) -> ServiceUnavailable | None:
    """503 for a database out of reach or a pool without a free connection, else None."""
    if isinstance(exc, PoolExhausted):
        return ServiceUnavailable(f"the hub is busy: {exc}; retry later",
                                  retry_after=max(1, round(exc.timeout)))
    if isinstance(exc, DatabaseUnavailable) or is_connection_error(exc):
        watch = request.app.get(keys.DATABASE_WATCH)
        if watch is not None:
            watch.lost(exc)  # logs only the first failure of an outage
        return ServiceUnavailable("the database is unavailable; retry later",
                                  retry_after=OUTAGE_RETRY_AFTER)
    return None


def _too_large(request: web.Request) -> PayloadTooLarge | None:
    """Refuse a declared body over the limit from its headers alone: reading 50 MB to
    find that out cost the bandwidth and memory the limit exists to save."""
    limit = request.app[keys.SETTINGS].max_body_bytes
    length = request.content_length
    if length is None or limit <= 0 or length <= limit:
        return None
    return PayloadTooLarge(f"the request body ({length} bytes) is larger than the limit of"
                           f" {limit} bytes")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if (too_large := _too_large(request)) is not None:
        resp = problem_response(too_large)
        resp.force_close()  # the unread body must not be taken for the next request
        return resp
    try:
        return await handler(request)
    except NgsiLdError as err:
        return problem_response(err)
    except web.HTTPRequestEntityTooLarge:
        return problem_response(PayloadTooLarge("the request body is too large"))
    except web.HTTPNotFound:
        if "/temporal/entities/" in request.path and "/attrs//" in request.path \
                and request.method == "PATCH":
            # no attribute named: there is no resource an instance PATCH could apply to;
            # the ETSI suite (016_02_06) expects 405 here, and 400 for DELETE (017_02_05)
            not_allowed = MethodNotAllowed(f"PATCH needs an attribute in {request.path}")
            not_allowed.headers["Allow"] = "DELETE"
            return problem_response(not_allowed)
        if "/entities//" in request.path or "/attrs//" in request.path:
            return problem_response(BadRequestData("an id is missing from the path"))
        return problem_response(ResourceNotFound(f"no resource at {request.path}"))
    except web.HTTPMethodNotAllowed as exc:
        if request.path.rstrip("/").endswith("/entities") and request.method in ("PUT", "PATCH"):
            return problem_response(BadRequestData("the entity id is missing from the path"))
        not_allowed = MethodNotAllowed(f"{request.method} is not allowed on {request.path}")
        not_allowed.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
        return problem_response(not_allowed)
    except (DatabaseUnavailable, PoolExhausted, asyncpg.InterfaceError, OSError,
            asyncpg.PostgresError) as exc:
        unavailable = _unavailable(request, exc)
        if unavailable is not None:
            return problem_response(unavailable)
        if not isinstance(exc, asyncpg.PostgresError):
            log.exception("unhandled error", extra={"path": request.path})
            return problem_response(InternalError("internal error"))
        mapped = _from_database(exc)
        if isinstance(mapped, InternalError):
            log.exception("database error", extra={"path": request.path})
        return problem_response(mapped)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        return problem_response(InternalError("internal error"))
