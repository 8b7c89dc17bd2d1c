"""The registry management API's request bodies as pydantic models.

Why a second description beside the ``*_from_json`` parsers of :mod:`registry.model`:
the hub's OpenAPI document is generated from these models (``hub/api/openapi.py``), and
every body the API accepts is validated by them too (:func:`checked`), so the published
schema cannot drift from what the hub takes. The parsers keep the checks a JSON Schema
cannot say (check digits, overlap, IRIs, open data needs an open licence) and their
error messages, which clients and tests rely on: when both refuse, the parser's message
wins; when only the model refuses, its first error becomes the message.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from registry.errors import Invalid

__all__ = ["AdapterBody", "DatasetBody", "NamesBody", "OrganisationBody", "RuleBody",
           "RunBody", "checked", "problem_message"]

T = TypeVar("T")

Text = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=r"\S")]
Short = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"\S")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")]
OrgId = Annotated[str, StringConstraints(pattern=r"^([0-9]{6}|[0-9]{13})$")]
NonEmpty = Annotated[str, StringConstraints(min_length=1, pattern=r"\S")]
Stamp = Annotated[str | None, Field(json_schema_extra={"readOnly": True,
                                                      "format": "date-time"})]


class _Body(BaseModel):
    """Unknown members are refused (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class NamesBody(_Body):
    """A name in Japanese (required) and English (optional)."""

    ja: Text
    en: Text | None = None


class RuleBody(_Body):
    """An entity belongs to the dataset when all its types are in entityTypes (empty: any)
    and its id starts with one of idPrefixes (empty: any); catchAll: true matches every
    entity. Overlapping rules are refused."""

    entityTypes: list[NonEmpty] = []
    idPrefixes: list[NonEmpty] = []
    catchAll: bool = False


class OrganisationBody(_Body):
    """The prefecture, a municipality (全国地方公共団体コード, 6 digits) or a partner
    (法人番号, 13 digits); the check digit is validated. In a PUT the id may come from
    the path."""

    id: OrgId | None = None
    kind: Literal["prefecture", "municipality", "private"] | None = Field(
        None, description="implied by the id; optional, checked when given")
    name: NamesBody
    contact: Text | None = None
    url: Text | None = None
    createdAt: Stamp = None
    modifiedAt: Stamp = None


class DatasetBody(_Body):
    """A dataset: who owns it, which entities (its rule), under which terms."""

    id: Slug | None = None
    owner: OrgId = Field(description="a registered organisation's id")
    name: NamesBody
    description: NamesBody | None = None
    rule: RuleBody
    contracts: list[NonEmpty] = Field([], description="contract types the dataset produces")
    licence: Literal["CC-BY-4.0", "CC0-1.0", "gov-standard-2.0", "proprietary"]
    openData: bool = Field(False, description="readable anonymously")
    personalData: bool = False
    updateFrequency: Literal["continuous", "hourly", "daily", "weekly", "monthly",
                             "quarterly", "annual", "irregular", "never"]
    contact: Text | None = None
    source: Text | None = None
    keywords: list[NonEmpty] = []
    historyRetention: int | str | None = Field(
        None, description="how long the history of its entities is kept: days, or an ISO 8601"
        " duration (P90D, P2W, P6M, P1Y); absent: kept for ever")
    historyMode: Literal["observed", "every"] | None = Field(
        None, description="which changes become history: observed (attribute instances"
        " carrying observedAt; the default) or every (every change of an attribute)")
    createdAt: Stamp = None
    modifiedAt: Stamp = None


class AdapterBody(_Body):
    """Which adapter feeds which dataset. Secrets in config (keys containing password,
    secret, token, apikey, credential, authorization, private_key) are write-only:
    rendered as ***, and *** sent back keeps the stored value."""

    id: Slug | None = None
    dataset: Slug
    adapter: Short = Field(description="the adapter's manifest id")
    config: dict[str, Any] = {}
    schedule: Short | None = Field(
        None, description="5-field cron expression or ISO 8601 duration such as PT10M")
    enabled: bool = True
    createdAt: Stamp = None
    modifiedAt: Stamp = None


class RunBody(_Body):
    """One adapter run's health (its times are ISO 8601 strings in JSON, hence lax)."""

    model_config = ConfigDict(extra="forbid", strict=False)

    startedAt: datetime
    finishedAt: datetime | None = None
    status: Literal["succeeded", "partial", "failed", "running"]
    counts: dict[str, Annotated[int, Field(ge=0)]] = {}
    errors: list[str] = []


def problem_message(exc: ValidationError) -> str:
    """The first error of a model, said the way the registry's messages are."""
    err = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in err["loc"]) or "the body"
    return f"{where}: {err['msg']}"


def checked(model: type[BaseModel], data: Any, parse: Callable[[], T]) -> T:
    """``parse()`` the body only if ``model`` accepts it too: the accepted bodies are
    those both the published schema and the domain parser take. A refusal keeps the
    parser's own message when the parser refuses as well."""
    try:
        model.model_validate(data)
    except ValidationError as exc:
        parse()  # raises Invalid with the parser's message when it refuses too
        raise Invalid(problem_message(exc)) from None
    return parse()
