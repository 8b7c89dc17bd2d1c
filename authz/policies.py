"""Access decisions as pure functions: ``decide(consumer, resource, action) -> Decision``.

The rules, in the order they are applied (docs/access-control.md has the table):

1. anonymous callers may only ``read`` open data; nothing is writable anonymously;
2. a token's scopes bound what its client may do at all (``read``, ``write``, ``subscribe``);
3. the owner may do everything with its own data;
4. nobody but the owner writes (the registry's ownership rule) — no grant changes that;
5. open-data datasets are readable (and subscribable) by everyone;
6. an approved grant, in its period, for the consumer's organisation (or client) and the
   purpose it declared, covering the dataset or the owner + entity type IRI, allows its
   actions on its attributes; an aggregated-only grant never yields raw entities, and a
   personal-data dataset is never read raw whatever the grant says (``covers_personal_data``
   refuses such grants when they are requested and approved; the decision refuses them
   again, since a dataset may become personal after a grant was approved);
7. the configurable defaults: the prefecture (by default) and other municipalities (not by
   default) may read other owners' data that holds no personal data;
8. everything else is denied — private partners in particular see nothing ungranted.

``read_scope`` is the same rules stated for a whole query, so the hub can compile them
to one SQL condition; per-entity ``decide`` on each row returned is the second check.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from authz.model import Consumer, Decision, Grant, OrgKind, Resource, organisation_kind

__all__ = ["DatasetFacts", "Defaults", "ReadScope", "aggregated_grants",
           "covers_personal_data", "decide", "read_scope"]

_DEFAULT_CHOICES = ("deny", "read")


@dataclass(frozen=True, slots=True)
class Defaults:
    """What holds without a grant (settings ``authz_prefecture_default`` and
    ``authz_municipality_default``). Never applies to personal-data datasets."""

    prefecture: str = "read"
    municipality: str = "deny"

    def __post_init__(self) -> None:
        for value in (self.prefecture, self.municipality):
            if value not in _DEFAULT_CHOICES:
                raise ValueError(f"a default is one of {_DEFAULT_CHOICES}, not {value!r}")

    def reads_by_default(self, organisation: str) -> bool:
        kind = organisation_kind(organisation)
        if kind is OrgKind.PREFECTURE:
            return self.prefecture == "read"
        if kind is OrgKind.MUNICIPALITY:
            return self.municipality == "read"
        return False


def _covers(grant: Grant, resource: Resource) -> bool:
    if grant.dataset is not None:
        return grant.dataset == resource.dataset
    return grant.owner_org == resource.owner and grant.entity_type in resource.types


class DatasetFacts(Protocol):
    """What the policy needs to know of a registry dataset (the hub's ``DatasetInfo``)."""

    @property
    def id(self) -> str: ...
    @property
    def owner(self) -> str: ...
    @property
    def personal_data(self) -> bool: ...
    @property
    def entity_types(self) -> frozenset[str]: ...


def covers_personal_data(dataset: object, owner: object, entity_type: object,
                         datasets: Iterable[DatasetFacts]) -> bool:
    """Whether a grant on ``dataset``, or on ``owner``'s entities of ``entity_type``,
    could reach a personal-data dataset — so it may only be granted aggregated.

    An owner + type grant reaches every dataset of that owner whose rule admits the type;
    a rule naming no types admits any, so it counts too (fail closed). Arguments are the
    caller's JSON as sent: anything that is not a string reaches nothing (and is refused
    by the request validation anyway).
    """
    for d in datasets:
        if not d.personal_data:
            continue
        if isinstance(dataset, str) and d.id == dataset:
            return True
        if (dataset is None and isinstance(owner, str) and d.owner == owner
                and isinstance(entity_type, str)
                and (not d.entity_types or entity_type in d.entity_types)):
            return True
    return False


def _scope_ok(consumer: Consumer, action: str) -> bool:
    return action in consumer.scopes


def decide(consumer: Consumer, resource: Resource, action: str, *,
           grants: Iterable[Grant] = (), defaults: Defaults = Defaults(),
           now: datetime) -> Decision:
    if consumer.anonymous:
        if action == "read" and resource.open_data:
            return Decision(True, "open-data")
        return Decision(False, "anonymous")
    if not _scope_ok(consumer, action):
        return Decision(False, "scope")
    if resource.owner is not None and consumer.organisation == resource.owner:
        return Decision(True, "owner")
    if action == "write":
        return Decision(False, "owner-only-write")
    if resource.open_data:
        return Decision(True, "open-data")
    # personal data is never raw: a raw grant reaching it (approved before the dataset
    # became personal, or a forged row) is no grant at all
    matching = [g for g in grants
                if action in g.actions and g.applies_to(consumer, now) and _covers(g, resource)
                and not (resource.personal_data and g.granularity == "raw")]
    raw = [g for g in matching if g.granularity == "raw"]
    if raw:
        attrs: frozenset[str] | None = frozenset()
        for g in raw:
            if g.attributes is None:
                attrs = None
                break
            attrs = (attrs or frozenset()) | frozenset(g.attributes)
        best = raw[0]
        return Decision(True, "grant", grant_id=best.id, attributes=attrs,
                        rate_per_minute=best.rate_per_minute)
    if matching:
        g = matching[0]
        return Decision(False, "aggregated-only", grant_id=g.id, aggregated_only=True,
                        min_group_size=g.min_group_size)
    if (action == "read" and not resource.personal_data and consumer.organisation
            and defaults.reads_by_default(consumer.organisation)):
        return Decision(True, f"{organisation_kind(consumer.organisation).value}-default")
    return Decision(False, "default-deny")


@dataclass(frozen=True, slots=True)
class ReadScope:
    """What one consumer may read, for compiling into a query condition.

    ``everything``: no restriction (dev mode). Otherwise an entity is readable when it is
    open data, or owned by ``own_org``, or in a dataset of ``datasets``, or owned+typed as
    in ``owner_types``, or (``default_read``) any non-personal entity of another owner.
    The dicts map to the readable attribute IRIs (None = all).
    """

    everything: bool = False
    own_org: str | None = None
    default_read: bool = False
    datasets: dict[str, frozenset[str] | None] = field(default_factory=dict)
    owner_types: dict[tuple[str, str], frozenset[str] | None] = field(default_factory=dict)
    rate_per_minute: int | None = None
    #: what a grant in force decides (raw or aggregated), so the default does not: as in
    #: ``decide``, a grant replaces the default read on what it covers
    granted_datasets: frozenset[str] = frozenset()
    granted_types: frozenset[tuple[str, str]] = frozenset()


def _union(a: frozenset[str] | None, b: tuple[str, ...] | None) -> frozenset[str] | None:
    if a is None or b is None:
        return None
    return a | frozenset(b)


def read_scope(consumer: Consumer, action: str = "read", *, grants: Iterable[Grant] = (),
               defaults: Defaults = Defaults(), now: datetime) -> ReadScope:
    if consumer.anonymous or not _scope_ok(consumer, action):
        return ReadScope()
    datasets: dict[str, frozenset[str] | None] = {}
    owner_types: dict[tuple[str, str], frozenset[str] | None] = {}
    rate: int | None = None
    granted_datasets: set[str] = set()
    granted_types: set[tuple[str, str]] = set()
    for g in grants:
        if action not in g.actions or not g.applies_to(consumer, now):
            continue
        if g.dataset is not None:
            granted_datasets.add(g.dataset)
        elif g.entity_type is not None:
            granted_types.add((g.owner_org, g.entity_type))
        if g.granularity != "raw":
            continue
        if g.rate_per_minute is not None:
            rate = g.rate_per_minute if rate is None else min(rate, g.rate_per_minute)
        if g.dataset is not None:
            datasets[g.dataset] = _union(datasets.get(g.dataset, frozenset()), g.attributes)
        elif g.entity_type is not None:
            key = (g.owner_org, g.entity_type)
            owner_types[key] = _union(owner_types.get(key, frozenset()), g.attributes)
    org = consumer.organisation
    return ReadScope(own_org=org, datasets=datasets, owner_types=owner_types,
                     default_read=bool(action == "read" and org
                                       and defaults.reads_by_default(org)),
                     rate_per_minute=rate, granted_datasets=frozenset(granted_datasets),
                     granted_types=frozenset(granted_types))


def aggregated_grants(consumer: Consumer, action: str = "read", *,
                      grants: Iterable[Grant] = (), now: datetime) -> list[Grant]:
    """The aggregated-only grants in force for ``consumer``: what it may see only as
    groups of at least each grant's ``min_group_size`` entities (never as raw entities,
    which ``read_scope`` and ``decide`` refuse)."""
    if consumer.anonymous or not _scope_ok(consumer, action):
        return []
    return [g for g in grants if action in g.actions and g.granularity == "aggregated"
            and g.applies_to(consumer, now)]
