"""The pure domain model of access control: clients, grants, consumers, resources, decisions.

No I/O here: the repository modules (``authz/repo/``) turn rows into these objects and the
decision functions (``authz/policies.py``) take them as arguments, so every rule can be
unit-tested without a database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "ACTIONS",
    "SCOPES",
    "Client",
    "Consumer",
    "Decision",
    "Grant",
    "OrgKind",
    "Resource",
    "organisation_kind",
]

#: What a grant can allow. ``read`` covers retrieve, query, /types, /attributes and temporal
#: reads; ``subscribe`` creating subscriptions and receiving their notifications.
ACTIONS = ("read", "write", "subscribe")
#: OAuth scopes a client may hold; a token never carries a scope its client lacks.
#: ``manage`` lets an organisation's client manage that organisation's clients and grants.
SCOPES = ("read", "write", "subscribe", "manage")


class OrgKind(StrEnum):
    PREFECTURE = "prefecture"
    MUNICIPALITY = "municipality"
    PRIVATE = "private"


def organisation_kind(org_id: str) -> OrgKind:
    """The kind of an organisation from the shape of its registry identifier.

    A 法人番号 has 13 digits (private partners); a 全国地方公共団体コード has 6 and a
    prefecture's code is its two-digit number followed by ``000`` and the check digit.
    Check digits are the registry's business; here only the shape matters.
    """
    if len(org_id) == 6 and org_id.isdigit():
        return OrgKind.PREFECTURE if org_id[2:5] == "000" else OrgKind.MUNICIPALITY
    return OrgKind.PRIVATE


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    organisation: str
    name: str
    auth_method: str
    scopes: tuple[str, ...]
    secret_hash: str | None = None
    jwks: dict[str, Any] | None = None
    rate_per_minute: int | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Grant:
    """Consumer may do ``actions`` on a dataset, or on ``owner``'s entities of one type IRI."""

    id: str
    consumer_org: str
    owner_org: str
    actions: tuple[str, ...]
    purpose: str
    valid_from: datetime
    valid_until: datetime
    status: str = "approved"
    consumer_client: str | None = None
    dataset: str | None = None
    entity_type: str | None = None
    attributes: tuple[str, ...] | None = None  # full IRIs; None = every attribute
    granularity: str = "raw"  # or "aggregated"
    min_group_size: int | None = None
    rate_per_minute: int | None = None

    def applies_to(self, consumer: Consumer, now: datetime) -> bool:
        """Approved, in its period, for this organisation (and client, if it names one)
        and for the purpose the consumer declared."""
        return (self.status == "approved"
                and self.valid_from <= now < self.valid_until
                and self.consumer_org == consumer.organisation
                and (self.consumer_client is None or self.consumer_client == consumer.client_id)
                and consumer.purpose is not None and self.purpose == consumer.purpose)


@dataclass(frozen=True, slots=True)
class Consumer:
    """Who is calling: anonymous (organisation None) or a client of an organisation."""

    organisation: str | None = None
    client_id: str | None = None
    subject: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    purpose: str | None = None
    issuer: str | None = None

    @property
    def anonymous(self) -> bool:
        return self.organisation is None


@dataclass(frozen=True, slots=True)
class Resource:
    """The data an operation touches: its owner, dataset, types and attributes (IRIs)."""

    owner: str | None
    dataset: str | None = None
    types: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()
    open_data: bool = False
    personal_data: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    rule: str  # which rule decided: "owner", "open-data", "grant", "default-deny", ...
    grant_id: str | None = None
    attributes: frozenset[str] | None = None  # readable attributes; None = all
    aggregated_only: bool = False
    min_group_size: int | None = None
    rate_per_minute: int | None = None
