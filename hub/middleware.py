"""The one error renderer: every exception leaves the hub as NGSI-LD problem details."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import asyncpg
import orjson
from aiohttp import web

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


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except NgsiLdError as err:
        return problem_response(err)
    except web.HTTPRequestEntityTooLarge:
        return problem_response(PayloadTooLarge("the request body is too large"))
    except web.HTTPNotFound:
        if "/entities//" in request.path or "/attrs//" in request.path:
            return problem_response(BadRequestData("an id is missing from the path"))
        return problem_response(ResourceNotFound(f"no resource at {request.path}"))
    except web.HTTPMethodNotAllowed as exc:
        if request.path.rstrip("/").endswith("/entities") and request.method in ("PUT", "PATCH"):
            return problem_response(BadRequestData("the entity id is missing from the path"))
        not_allowed = MethodNotAllowed(f"{request.method} is not allowed on {request.path}")
        not_allowed.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
        return problem_response(not_allowed)
    except asyncpg.PostgresError as exc:
        mapped = _from_database(exc)
        if isinstance(mapped, InternalError):
            log.exception("database error", extra={"path": request.path})
        return problem_response(mapped)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        return problem_response(InternalError("internal error"))
