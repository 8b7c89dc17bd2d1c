"""Every NGSI-LD error class renders as RFC 7807 problem details with its spec type."""

from __future__ import annotations

import orjson
import pytest

from hub import errors
from hub.middleware import problem_response

ALL = [getattr(errors, n) for n in errors.__all__ if n != "NgsiLdError"]
SPEC_TYPES = {"InvalidRequest", "BadRequestData", "AlreadyExists", "OperationNotSupported",
              "ResourceNotFound", "InternalError", "TooComplexQuery", "TooManyResults",
              "LdContextNotAvailable", "NonexistentTenant"}


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_problem_details_shape(cls: type[errors.NgsiLdError]) -> None:
    resp = problem_response(cls("something specific went wrong"))
    body = orjson.loads(resp.body)  # type: ignore[arg-type]
    assert resp.status == cls.status and body["status"] == cls.status
    assert resp.content_type == "application/json"
    assert body["type"].startswith("https://uri.etsi.org/ngsi-ld/errors/")
    assert body["type"].rsplit("/", 1)[1] in SPEC_TYPES
    assert body["title"] and body["detail"] == "something specific went wrong"


def test_headers_travel_with_the_problem() -> None:
    err = errors.MethodNotAllowed("no")
    err.headers["Allow"] = "GET, POST"
    assert problem_response(err).headers["Allow"] == "GET, POST"
