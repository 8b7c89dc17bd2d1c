"""Request bodies of the access-control management API and of NGSI-LD subscriptions as
pydantic models: the hub's OpenAPI document (``hub/api/openapi.py``) is generated from
them, and the handlers validate each body with them (:func:`checked_body`), so what the
document promises and what the hub takes cannot drift apart.

The domain parsers (``authz/requests.py``, ``hub/subscriptions/model.py``) keep the rules
a schema cannot say (IRIs, time order, expansion against the @context) and their
messages: when a body fails the model, the domain parser is asked first, and its message
is the one the caller sees if it refuses too. Subscription models allow unknown members
(the spec lets a subscription carry vendor and legacy members; the domain parser decides).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from hub.errors import BadRequestData

__all__ = ["ClientBody", "DecisionBody", "GrantBody", "RotateBody", "SubscriptionBody",
           "SubscriptionPatch", "checked_body"]

T = TypeVar("T")
NonEmpty = Annotated[str, StringConstraints(min_length=1, pattern=r"\S")]
DateTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
Scope = Literal["read", "write", "subscribe", "manage"]


class _Open(BaseModel):
    """Unknown members pass to the domain parser, which decides."""

    model_config = ConfigDict(extra="allow")


class ClientBody(_Open):
    """A new OAuth 2 client of an organisation (client credentials)."""

    name: NonEmpty
    organisation: NonEmpty | None = Field(None, description="the operator only: another "
                                                            "organisation's client")
    auth_method: Literal["client_secret_basic", "client_secret_post",
                         "private_key_jwt"] = "client_secret_basic"
    jwks: dict[str, Any] | None = Field(None, description="public keys (RFC 7523); no "
                                                          "private members")
    scopes: list[Scope] = Field(["read"], min_length=1)
    rate_per_minute: Annotated[int, Field(ge=1)] | None = None


class RotateBody(_Open):
    """Rotate a client's secret (or replace its JWKS)."""

    jwks: dict[str, Any] | None = None
    revoke_tokens: bool = False


class GrantBody(_Open):
    """A grant request: a dataset, or an owner and a full entity type IRI."""

    dataset: NonEmpty | None = None
    owner: NonEmpty | None = None
    entity_type: NonEmpty | None = Field(None, description="a full type IRI")
    actions: list[Literal["read", "subscribe"]] = Field(["read"], min_length=1)
    attributes: list[NonEmpty] | None = Field(None, description="full attribute IRIs")
    purpose: NonEmpty
    valid_from: DateTime
    valid_until: DateTime
    granularity: Literal["raw", "aggregated"] = "raw"
    min_group_size: Annotated[int, Field(ge=2)] | None = None
    rate_per_minute: Annotated[int, Field(ge=1)] | None = None
    consumer_client: NonEmpty | None = None


class DecisionBody(_Open):
    """Approve, reject or revoke a grant, with an optional reason."""

    reason: str | None = None


# -- NGSI-LD subscriptions (GS CIM 009 5.2.12, 5.2.14, 5.2.15) --------------------------

class EntitySelector(BaseModel):
    """GS CIM 009 5.2.33: a type (expression), optionally an id or an id pattern."""

    model_config = ConfigDict(extra="forbid")
    type: NonEmpty
    id: NonEmpty | None = None
    idPattern: NonEmpty | None = None


class KeyValuePair(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str
    value: str


class Endpoint(_Open):
    """GS CIM 009 5.2.15: where notifications go (http, https, mqtt, mqtts)."""

    uri: NonEmpty
    accept: Literal["application/json", "application/ld+json",
                    "application/geo+json"] | None = None
    receiverInfo: list[KeyValuePair] | None = None
    notifierInfo: list[KeyValuePair] | None = None
    timeout: Annotated[float, Field(gt=0)] | None = None
    cooldown: Annotated[float, Field(gt=0)] | None = None


class NotificationPatch(_Open):
    """Members of the notification parameters, each optional (a PATCH merges them)."""

    endpoint: dict[str, Any] | None = None
    attributes: list[NonEmpty] | None = None
    format: Literal["normalized", "keyValues", "simplified", "concise"] | None = None
    sysAttrs: bool | None = None
    showChanges: bool | None = None
    pick: list[NonEmpty] | None = None
    omit: list[NonEmpty] | None = None
    join: Literal["inline", "flat", "@none"] | None = None
    joinLevel: Annotated[int, Field(ge=1)] | None = None


class NotificationParams(NotificationPatch):
    """GS CIM 009 5.2.14: what a notification carries and where it goes."""

    endpoint: Endpoint  # type: ignore[assignment]


class GeoQuery(_Open):
    """GS CIM 009 5.2.13."""

    geometry: NonEmpty
    coordinates: list[Any] | str
    georel: NonEmpty
    geoproperty: NonEmpty | None = None


Trigger = Literal["entityCreated", "entityUpdated", "entityDeleted", "attributeCreated",
                  "attributeUpdated", "attributeDeleted"]


class SubscriptionPatch(_Open):
    """Members of a subscription, each optional (the body of PATCH, a merge)."""

    id: NonEmpty | None = None
    type: Literal["Subscription"] | None = None
    subscriptionName: str | None = None
    description: str | None = None
    entities: Annotated[list[EntitySelector], Field(min_length=1)] | None = None
    watchedAttributes: Annotated[list[NonEmpty], Field(min_length=1)] | None = None
    notificationTrigger: list[Trigger] | None = None
    timeInterval: Annotated[float, Field(gt=0)] | None = None
    q: NonEmpty | None = None
    geoQ: GeoQuery | None = None
    csf: str | None = None
    scopeQ: NonEmpty | None = None
    lang: str | None = None
    isActive: bool | None = None
    notification: NotificationPatch | None = None
    expiresAt: DateTime | None = None
    throttling: Annotated[float, Field(gt=0)] | None = None
    jsonldContext: NonEmpty | None = None
    datasetId: list[NonEmpty] | None = None


class SubscriptionBody(SubscriptionPatch):
    """A subscription (GS CIM 009 5.2.12): entities and/or watchedAttributes, and the
    notification parameters."""

    type: Literal["Subscription"]
    notification: NotificationParams


def _message(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in err["loc"]) or "the body"
    return f"{where}: {err['msg']}"


def checked_body(model: type[BaseModel], data: Any,
                 domain: Callable[[], object] | None = None) -> None:
    """Refuse (400 BadRequestData) a body ``model`` does not accept. ``domain`` runs the
    domain parser first so that its message wins when it refuses the body too (a
    ``ValueError`` becomes BadRequestData; hub errors pass as they are)."""
    try:
        model.model_validate(data)
    except ValidationError as exc:
        if domain is not None:
            try:
                domain()
            except ValueError as refused:
                raise BadRequestData(str(refused)) from None
        raise BadRequestData(_message(exc)) from None
