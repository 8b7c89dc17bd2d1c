"""The one NGSI-LD error hierarchy (GS CIM 009 clause 5.5.2).

Every failure a client can see is one of these classes; each carries the problem
``type`` URI and HTTP status the spec assigns, and the single error middleware in
``hub/middleware.py`` renders it as ``application/json`` problem details (RFC 7807).
"""

from __future__ import annotations

from typing import Any

_BASE = "https://uri.etsi.org/ngsi-ld/errors/"

__all__ = [
    "AlreadyExists",
    "BadRequestData",
    "Forbidden",
    "InternalError",
    "InvalidRequest",
    "LdContextNotAvailable",
    "MethodNotAllowed",
    "NgsiLdError",
    "NonexistentTenant",
    "NotAcceptable",
    "OperationNotSupported",
    "PayloadTooLarge",
    "ResourceNotFound",
    "ServiceUnavailable",
    "TooComplexQuery",
    "TooManyRequests",
    "TooManyResults",
    "Unauthorized",
    "UnsupportedMediaType",
]


class NgsiLdError(Exception):
    """Base class: subclasses fix ``problem_type``, ``status`` and ``title``."""

    problem_type: str = _BASE + "InternalError"
    status: int = 500
    title: str = "Internal error"

    def __init__(self, detail: str = "", **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra
        self.headers: dict[str, str] = {}

    def to_problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.problem_type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        body.update(self.extra)
        return body


class InvalidRequest(NgsiLdError):
    """The request is syntactically wrong: bad JSON, bad parameters, bad query syntax."""

    problem_type = _BASE + "InvalidRequest"
    status = 400
    title = "Invalid request"


class BadRequestData(NgsiLdError):
    """The request is well formed but its content breaks an NGSI-LD rule."""

    problem_type = _BASE + "BadRequestData"
    status = 400
    title = "Bad request data"


class AlreadyExists(NgsiLdError):
    problem_type = _BASE + "AlreadyExists"
    status = 409
    title = "Already exists"


class OperationNotSupported(NgsiLdError):
    problem_type = _BASE + "OperationNotSupported"
    status = 422
    title = "Operation not supported"


class ResourceNotFound(NgsiLdError):
    problem_type = _BASE + "ResourceNotFound"
    status = 404
    title = "Resource not found"


class InternalError(NgsiLdError):
    problem_type = _BASE + "InternalError"
    status = 500
    title = "Internal error"


class TooComplexQuery(NgsiLdError):
    problem_type = _BASE + "TooComplexQuery"
    status = 403
    title = "Too complex query"


class TooManyResults(NgsiLdError):
    problem_type = _BASE + "TooManyResults"
    status = 403
    title = "Too many results"


class LdContextNotAvailable(NgsiLdError):
    problem_type = _BASE + "LdContextNotAvailable"
    status = 503
    title = "JSON-LD @context not available"


class NonexistentTenant(NgsiLdError):
    problem_type = _BASE + "NonexistentTenant"
    status = 404
    title = "Nonexistent tenant"


class UnsupportedMediaType(NgsiLdError):
    """HTTP 415: the request body's Content-Type is not one the operation accepts (6.3.4)."""

    problem_type = _BASE + "InvalidRequest"
    status = 415
    title = "Unsupported media type"


class NotAcceptable(NgsiLdError):
    """HTTP 406: none of the media types in ``Accept`` can be produced (6.3.4)."""

    problem_type = _BASE + "InvalidRequest"
    status = 406
    title = "Not acceptable"


class PayloadTooLarge(NgsiLdError):
    """HTTP 413: the body exceeds the configured ``max_body_bytes``."""

    problem_type = _BASE + "InvalidRequest"
    status = 413
    title = "Payload too large"


class MethodNotAllowed(NgsiLdError):
    """HTTP 405 for a known resource with a method it does not implement (6.3.3)."""

    problem_type = _BASE + "InvalidRequest"
    status = 405
    title = "Method not allowed"


class Unauthorized(NgsiLdError):
    """HTTP 401: no acceptable credentials; carries ``WWW-Authenticate`` (RFC 6750 3)."""

    problem_type = _BASE + "InvalidRequest"
    status = 401
    title = "Unauthorized"

    def __init__(self, detail: str = "", *, error: str | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        challenge = 'Bearer realm="renkei"'
        if error:
            desc = self.detail.replace('"', "'")
            challenge += f', error="{error}", error_description="{desc}"'
        self.headers["WWW-Authenticate"] = challenge


class Forbidden(NgsiLdError):
    """HTTP 403: the caller is known but the operation is not allowed to it."""

    problem_type = _BASE + "InvalidRequest"
    status = 403
    title = "Forbidden"


class TooManyRequests(NgsiLdError):
    """HTTP 429: over the client's request rate; carries ``Retry-After`` (RFC 6585 4)."""

    problem_type = _BASE + "InvalidRequest"
    status = 429
    title = "Too many requests"

    def __init__(self, detail: str = "", *, retry_after: int = 60, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers["Retry-After"] = str(retry_after)


class ServiceUnavailable(NgsiLdError):
    """HTTP 503: the request ran past its deadline or its statement timeout; it may be
    retried later, so it carries ``Retry-After`` (RFC 9110 15.6.4). Not ``TooComplexQuery``
    (403): the same request can succeed when the hub is less loaded."""

    problem_type = _BASE + "InternalError"
    status = 503
    title = "Service unavailable"

    def __init__(self, detail: str = "", *, retry_after: int = 5, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers["Retry-After"] = str(retry_after)
