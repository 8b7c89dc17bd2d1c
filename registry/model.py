"""The registry's pure domain model: organisations, datasets, adapters and their runs.

Records are frozen dataclasses built by the ``*_from_json`` functions, which validate every
field of the management API's JSON and raise :class:`registry.errors.Invalid` naming the
field; ``to_json`` gives the same shape back. Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from contracts import CONTRACTS
from contracts.schedule import is_schedule, plan
from registry.codes import is_corporate_number, is_local_government_code, is_prefecture_code
from registry.errors import Invalid
from registry.secrets import redact_secrets
from registry.wire import AdapterBody, DatasetBody, OrganisationBody, RunBody, checked

__all__ = [
    "DEFAULT_PREFIX",
    "FREQUENCIES",
    "LICENCES",
    "AdapterRegistration",
    "AdapterRun",
    "AdapterState",
    "Dataset",
    "Licence",
    "MembershipRule",
    "Names",
    "OrgKind",
    "Organisation",
    "adapter_from_json",
    "dataset_from_json",
    "default_dataset",
    "default_dataset_id",
    "organisation_from_json",
    "run_from_json",
    "type_iri",
]

Expand = Callable[[str], str]
"""Turns an entity type name into its IRI (the hub passes its core @context's expansion)."""

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_TYPE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class OrgKind(StrEnum):
    PREFECTURE = "prefecture"
    MUNICIPALITY = "municipality"
    PRIVATE = "private"  # a private partner, by 法人番号


@dataclass(frozen=True, slots=True)
class Licence:
    id: str
    title: str
    url: str | None
    open: bool  # may open data be published under it


LICENCES: dict[str, Licence] = {
    lic.id: lic
    for lic in (
        Licence("CC-BY-4.0", "クリエイティブ・コモンズ 表示 4.0 国際 (CC BY 4.0)",
                "https://creativecommons.org/licenses/by/4.0/", True),
        Licence("CC0-1.0", "CC0 1.0 パブリック・ドメイン提供",
                "https://creativecommons.org/publicdomain/zero/1.0/", True),
        Licence("gov-standard-2.0", "政府標準利用規約（第2.0版） (compatible with CC BY 4.0)",
                "https://www.kantei.go.jp/jp/singi/it2/densi/kettei/gl2_betten_1.pdf", True),
        Licence("proprietary", "利用条件は提供者に確認 (terms agreed with the provider)", None,
                False),
    )
}
"""Licences a dataset may name; open data needs an open one."""

FREQUENCIES: dict[str, str] = {
    "continuous": "CONT",
    "hourly": "HOURLY",
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "monthly": "MONTHLY",
    "quarterly": "QUARTERLY",
    "annual": "ANNUAL",
    "irregular": "IRREG",
    "never": "NEVER",
}
"""Update frequencies and their code in the EU frequency vocabulary DCAT-AP uses."""


@dataclass(frozen=True, slots=True)
class Names:
    """A name in Japanese (required) and English (optional), as a language map."""

    ja: str
    en: str | None = None

    def to_json(self) -> dict[str, str]:
        return {"ja": self.ja, **({"en": self.en} if self.en else {})}


@dataclass(frozen=True, slots=True)
class Organisation:
    """The prefecture, a municipality (全国地方公共団体コード) or a partner (法人番号)."""

    id: str
    kind: OrgKind
    name: Names
    contact: str | None = None
    url: str | None = None
    created_at: datetime | None = None
    modified_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "kind": self.kind.value,
                               "name": self.name.to_json()}
        if self.contact:
            out["contact"] = self.contact
        if self.url:
            out["url"] = self.url
        return _with_times(out, self.created_at, self.modified_at)


@dataclass(frozen=True, slots=True)
class MembershipRule:
    """Which entities a dataset owns: the hub applies it at every entity write.

    An entity matches when every one of its types is in ``entity_types`` (empty: any type)
    and its id starts with one of ``id_prefixes`` (empty: any id). ``catch_all`` is the
    explicit form of "both empty": a rule that matches everything has to be asked for, never
    reached by forgetting a field. See :mod:`registry.ownership` for why these two
    dimensions make overlap decidable exactly.
    """

    entity_types: frozenset[str] = frozenset()
    id_prefixes: tuple[str, ...] = ()
    catch_all: bool = False
    #: an organisation's default dataset: it matches no entity by id or types, it takes
    #: what its owner writes when no other rule does (:meth:`OwnershipIndex.for_writer`)
    owner_default: bool = False

    def matches(self, entity_id: str, types: Sequence[str]) -> bool:
        if self.owner_default:
            return False  # chosen by who writes, never by what is written
        if self.entity_types and not all(t in self.entity_types for t in types):
            return False
        return not self.id_prefixes or any(entity_id.startswith(p) for p in self.id_prefixes)

    def overlaps(self, other: MembershipRule) -> bool:
        """Whether some entity could match both rules (exact, not an approximation)."""
        if self.owner_default or other.owner_default:
            return False  # a default dataset is the writer's fallback, below every rule
        types = (not self.entity_types or not other.entity_types
                 or bool(self.entity_types & other.entity_types))
        ids = (not self.id_prefixes or not other.id_prefixes
               or any(p.startswith(q) or q.startswith(p)
                      for p in self.id_prefixes for q in other.id_prefixes))
        return types and ids

    def to_json(self) -> dict[str, Any]:
        if self.catch_all:
            return {"catchAll": True}
        if self.owner_default:
            return {"ownerDefault": True}
        return {"entityTypes": sorted(self.entity_types), "idPrefixes": list(self.id_prefixes)}


@dataclass(frozen=True, slots=True)
class Dataset:
    id: str
    owner: str
    name: Names
    rule: MembershipRule
    licence: str
    update_frequency: str
    description: Names | None = None
    contracts: tuple[str, ...] = ()
    open_data: bool = False
    personal_data: bool = False
    contact: str | None = None
    source: str | None = None
    keywords: tuple[str, ...] = ()
    #: days of history (temporal instances) kept; None keeps it for ever (issue #16)
    history_retention_days: int | None = None
    #: which changes become history: ``observed`` (instances carrying observedAt) or
    #: ``every`` (every attribute change; its modifiedAt is the instant when observedAt
    #: is absent) — docs/architecture.md, "History"
    history_mode: str = "observed"
    created_at: datetime | None = None
    modified_at: datetime | None = None

    @property
    def iri(self) -> str:
        """How entities refer to the dataset (their ``refDataset`` relationship)."""
        return f"urn:ngsi-ld:Dataset:{self.id}"

    @property
    def provenance_source(self) -> str:
        """The ``source`` stamped on entities: the declared upstream, else the dataset."""
        return self.source or self.iri

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "owner": self.owner, "name": self.name.to_json(),
            "rule": self.rule.to_json(), "contracts": list(self.contracts),
            "licence": self.licence, "openData": self.open_data,
            "personalData": self.personal_data, "updateFrequency": self.update_frequency,
            "keywords": list(self.keywords),
        }
        if self.description:
            out["description"] = self.description.to_json()
        if self.contact:
            out["contact"] = self.contact
        if self.source:
            out["source"] = self.source
        if self.history_retention_days is not None:
            out["historyRetention"] = f"P{self.history_retention_days}D"
        if self.history_mode != "observed":
            out["historyMode"] = self.history_mode
        if self.rule.owner_default:
            out["defaultFor"] = self.owner
        return _with_times(out, self.created_at, self.modified_at)


DEFAULT_PREFIX = "default-"
"""Dataset ids starting so are reserved for organisations' default datasets."""


def default_dataset_id(org_id: str) -> str:
    """The id of an organisation's default dataset (created with the organisation)."""
    return DEFAULT_PREFIX + org_id


def default_dataset(org: Organisation) -> Dataset:
    """An organisation's default dataset: private, no contract, no rule of its own.

    It takes an entity its owner writes when no dataset rule covers the entity, so an
    off-the-shelf NGSI-LD client works before anyone registers a dataset; the owner moves
    such data into a dataset of its own by registering one (docs/registry.md).
    """
    return Dataset(
        id=default_dataset_id(org.id), owner=org.id,
        name=Names(ja=f"{org.name.ja}の既定データセット",
                   en=f"Default dataset of {org.name.en or org.id}"),
        description=Names(ja="どのデータセットの規則にも該当しないエンティティ（非公開）",
                          en="Entities the organisation wrote that no dataset rule covers "
                             "(private)"),
        rule=MembershipRule(owner_default=True), licence="proprietary",
        update_frequency="irregular")


@dataclass(frozen=True, slots=True)
class AdapterRegistration:
    """Which adapter feeds which dataset, with its configuration and schedule. Secrets in
    ``config`` are write-only: ``to_json`` renders them as ``"***"`` (registry/secrets.py)."""

    id: str
    dataset: str
    adapter: str
    config: dict[str, Any] = field(default_factory=dict)
    schedule: str | None = None
    enabled: bool = True
    created_at: datetime | None = None
    modified_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "dataset": self.dataset, "adapter": self.adapter,
                               "config": redact_secrets(self.config),
                               "schedule": self.schedule,
                               "enabled": self.enabled}
        return _with_times(out, self.created_at, self.modified_at)


RUN_STATUSES = ("succeeded", "partial", "failed", "running")


@dataclass(frozen=True, slots=True)
class AdapterRun:
    """One run's health: when, how it ended, its row counts and its errors."""

    adapter_id: str
    started_at: datetime
    status: str
    finished_at: datetime | None = None
    counts: dict[str, int] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "adapter": self.adapter_id,
                "startedAt": _iso(self.started_at),
                "finishedAt": _iso(self.finished_at) if self.finished_at else None,
                "status": self.status, "counts": self.counts, "errors": list(self.errors)}


@dataclass(frozen=True, slots=True)
class AdapterState:
    """A registration's operating state, as the adapter worker keeps it (migration
    ``global/0060_adapter_schedule.sql``) with its latest run: the operations view of
    ``GET /registry/v1/adapters``. When it runs next is :func:`contracts.schedule.plan`,
    the function the worker decides by, so the view cannot promise what the worker will
    not do."""

    enabled: bool
    schedule: str | None
    next_run_at: datetime | None = None
    run_requested_at: datetime | None = None
    failures: int = 0
    last_run: AdapterRun | None = None

    def to_json(self, now: datetime) -> dict[str, Any]:
        p = plan(enabled=self.enabled, schedule=self.schedule, next_run_at=self.next_run_at,
                 run_requested_at=self.run_requested_at, failures=self.failures, now=now)
        last = self.last_run
        out: dict[str, Any] = {
            "nextRunAt": _iso(p.next_run_at) if p.next_run_at else None,
            "nextRunReason": p.reason,
            "consecutiveFailures": self.failures,
            "lastRun": None if last is None else {
                "status": last.status, "startedAt": _iso(last.started_at),
                "finishedAt": _iso(last.finished_at) if last.finished_at else None,
                "counts": last.counts},
        }
        if p.backoff_until is not None:
            out["backoffUntil"] = _iso(p.backoff_until)
        return out


# -- parsing the management API's JSON ------------------------------------------------------

def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def _with_times(out: dict[str, Any], created: datetime | None,
                modified: datetime | None) -> dict[str, Any]:
    if created:
        out["createdAt"] = _iso(created)
    if modified:
        out["modifiedAt"] = _iso(modified)
    return out


def _obj(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise Invalid(f"{what} must be a JSON object")
    return data


def _known(data: Mapping[str, Any], allowed: set[str], what: str) -> None:
    unknown = sorted(set(data) - allowed - {"createdAt", "modifiedAt"})
    if unknown:
        raise Invalid(f"unknown member(s) of {what}: {', '.join(unknown)}")


def _text(data: Mapping[str, Any], key: str, *, required: bool = False,
          limit: int = 2000) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise Invalid(f"{key} is required")
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise Invalid(f"{key} must be a non-empty string of at most {limit} characters")
    return value.strip()


def _bool(data: Mapping[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise Invalid(f"{key} must be true or false")
    return value


def _names(data: Mapping[str, Any], key: str, *, required: bool) -> Names | None:
    raw = data.get(key)
    if raw is None:
        if required:
            raise Invalid(f"{key} is required: {{\"ja\": \"…\", \"en\": \"…\"}}")
        return None
    raw = _obj(raw, key)
    _known(raw, {"ja", "en"}, key)
    ja = _text(raw, "ja", required=True)
    assert ja is not None
    return Names(ja=ja, en=_text(raw, "en"))


def _strings(data: Mapping[str, Any], key: str) -> list[str]:
    raw = data.get(key, [])
    if not isinstance(raw, list) or not all(isinstance(s, str) and s.strip() for s in raw):
        raise Invalid(f"{key} must be a list of non-empty strings")
    return list(dict.fromkeys(s.strip() for s in raw))


def slug(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _SLUG.match(value):
        raise Invalid(f"{what} must be 1-64 lower-case letters, digits and inner hyphens")
    return value


def organisation_kind(org_id: str) -> OrgKind:
    """The kind an identifier implies; Invalid when it is neither code or has a bad check digit."""
    if len(org_id) == 6:
        if not is_local_government_code(org_id):
            raise Invalid(f"{org_id} is not a valid 全国地方公共団体コード (check digit or "
                          "prefecture number)")
        return OrgKind.PREFECTURE if is_prefecture_code(org_id) else OrgKind.MUNICIPALITY
    if len(org_id) == 13:
        if not is_corporate_number(org_id):
            raise Invalid(f"{org_id} is not a valid 法人番号 (check digit)")
        return OrgKind.PRIVATE
    raise Invalid("an organisation id is a 6-digit 全国地方公共団体コード or a 13-digit 法人番号")


def organisation_from_json(data: Any, *, org_id: str | None = None) -> Organisation:
    """Validated by :class:`registry.wire.OrganisationBody` (the published schema) and the
    domain checks below."""
    return checked(OrganisationBody, data, lambda: _organisation_from_json(data, org_id=org_id))


def _organisation_from_json(data: Any, *, org_id: str | None = None) -> Organisation:
    data = _obj(data, "an organisation")
    _known(data, {"id", "kind", "name", "contact", "url"}, "an organisation")
    raw_id = data.get("id", org_id)
    if org_id is not None and raw_id != org_id:
        raise Invalid("the id in the body differs from the id in the path")
    if not isinstance(raw_id, str):
        raise Invalid("id is required: a 全国地方公共団体コード or 法人番号")
    kind = organisation_kind(raw_id)
    if "kind" in data and data["kind"] != kind.value:
        raise Invalid(f"{raw_id} is the code of a {kind.value}, not a {data['kind']}")
    name = _names(data, "name", required=True)
    assert name is not None
    return Organisation(id=raw_id, kind=kind, name=name, contact=_text(data, "contact"),
                        url=_text(data, "url"))


def rule_from_json(data: Any, expand: Expand) -> MembershipRule:
    data = _obj(data, "rule")
    _known(data, {"entityTypes", "idPrefixes", "catchAll"}, "rule")
    catch_all = _bool(data, "catchAll", False)
    types = [type_iri(t, expand) for t in _strings(data, "entityTypes")]
    prefixes = _strings(data, "idPrefixes")
    for p in prefixes:
        if ":" not in p or any(c.isspace() for c in p):
            raise Invalid(f"id prefix {p!r} must be the start of a URI (e.g. urn:ngsi-ld:…)")
    if catch_all and (types or prefixes):
        raise Invalid("a catch-all rule has no entityTypes or idPrefixes")
    if not catch_all and not types and not prefixes:
        raise Invalid("a rule needs entityTypes or idPrefixes (or catchAll: true to own every "
                      "entity)")
    return MembershipRule(frozenset(types), tuple(prefixes), catch_all)


#: NGSI-LD's default vocabulary (the core @context's ``@vocab``): where a short name the
#: request's @context does not define expands to
NGSI_DEFAULT_VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"


def type_iri(name: str, expand: Expand) -> str:
    """A rule's type, resolved the way entity types are: a contract type's short name is
    the contract's IRI (what adapters produce), whether or not the request sent the
    contracts' @context; a context that gives the name another IRI is refused, naming both,
    since the rule would then silently miss every entity of the contract."""
    if ":" in name:
        return name  # already an IRI: kept as given, never reinterpreted
    if not _TYPE_NAME.match(name):
        raise Invalid(f"entity type {name!r} is neither an IRI nor a type name")
    expanded = expand(name)
    info = CONTRACTS.get(name)
    if info is None or expanded == info.type_iri:
        return expanded
    if expanded == NGSI_DEFAULT_VOCAB + name:
        return info.type_iri
    raise Invalid(f"entity type {name} is the contract type {info.type_iri}, but the "
                  f"request's @context makes it {expanded}; give the full IRI you mean")


def dataset_from_json(data: Any, expand: Expand, *, dataset_id: str | None = None) -> Dataset:
    """Validated by :class:`registry.wire.DatasetBody` (the published schema) and the
    domain checks below."""
    return checked(DatasetBody, data,
                   lambda: _dataset_from_json(data, expand, dataset_id=dataset_id))


def _dataset_from_json(data: Any, expand: Expand, *, dataset_id: str | None = None) -> Dataset:
    data = _obj(data, "a dataset")
    _known(data, {"id", "owner", "name", "description", "rule", "contracts", "licence",
                  "openData", "personalData", "updateFrequency", "contact", "source",
                  "keywords", "historyRetention", "historyMode"}, "a dataset")
    raw_id = data.get("id", dataset_id)
    if dataset_id is not None and raw_id != dataset_id:
        raise Invalid("the id in the body differs from the id in the path")
    ds_id = slug(raw_id, "id")
    if ds_id.startswith(DEFAULT_PREFIX):
        raise Invalid(f"dataset ids starting with {DEFAULT_PREFIX!r} are reserved for the "
                      "default dataset the registry keeps for each organisation")
    owner = data.get("owner")
    if not isinstance(owner, str):
        raise Invalid("owner is required: the id of a registered organisation")
    organisation_kind(owner)
    if "rule" not in data:
        raise Invalid("rule is required: which entities the dataset owns")
    rule = rule_from_json(data["rule"], expand)
    contracts = _strings(data, "contracts")
    unknown = [c for c in contracts if c not in CONTRACTS]
    if unknown:
        raise Invalid(f"unknown contract(s) {', '.join(unknown)}; known: {', '.join(CONTRACTS)}")
    licence = _text(data, "licence", required=True)
    if licence not in LICENCES:
        raise Invalid(f"licence must be one of {', '.join(LICENCES)}")
    open_data = _bool(data, "openData", False)
    personal = _bool(data, "personalData", False)
    if open_data and personal:
        raise Invalid("a dataset with personal data cannot be open data")
    if open_data and not LICENCES[licence].open:
        raise Invalid(f"open data needs an open licence, not {licence}")
    freq = _text(data, "updateFrequency", required=True)
    if freq not in FREQUENCIES:
        raise Invalid(f"updateFrequency must be one of {', '.join(FREQUENCIES)}")
    name = _names(data, "name", required=True)
    assert name is not None
    return Dataset(
        id=ds_id, owner=owner, name=name, description=_names(data, "description",
                                                               required=False),
        rule=rule, contracts=tuple(contracts), licence=licence, open_data=open_data,
        personal_data=personal, update_frequency=freq, contact=_text(data, "contact"),
        source=_text(data, "source"), keywords=tuple(_strings(data, "keywords")),
        history_retention_days=retention_days(data.get("historyRetention")),
        history_mode=history_mode(data.get("historyMode")),
    )


_RETENTION = re.compile(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?")
#: days per ISO 8601 designator; months and years are counted as 30 and 365 days, since
#: expiry works on whole partitions anyway (docs/architecture.md, "History")
_DAYS = (365, 30, 7, 1)


HISTORY_MODES = ("observed", "every")


def history_mode(value: Any) -> str:
    """``historyMode``: which changes of a dataset's entities become history."""
    if value is None:
        return "observed"
    if value not in HISTORY_MODES:
        raise Invalid(f"historyMode must be one of {', '.join(HISTORY_MODES)}")
    return str(value)


def retention_days(raw: Any) -> int | None:
    """``historyRetention`` as days: a positive integer, or an ISO 8601 duration of whole
    years, months, weeks and days (``P90D``, ``P1Y6M``); None when absent."""
    if raw is None:
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        days = raw
    elif isinstance(raw, str) and (m := _RETENTION.fullmatch(raw)) and any(m.groups()):
        days = sum(int(g) * d for g, d in zip(m.groups(), _DAYS, strict=True) if g)
    else:
        raise Invalid("historyRetention must be a number of days or an ISO 8601 duration"
                      " such as P90D or P1Y")
    if not 1 <= days <= 36_500:
        raise Invalid("historyRetention must be between 1 day and 100 years")
    return days


def adapter_from_json(data: Any, *, adapter_id: str | None = None) -> AdapterRegistration:
    """Validated by :class:`registry.wire.AdapterBody` (the published schema) and the
    domain checks below."""
    return checked(AdapterBody, data, lambda: _adapter_from_json(data, adapter_id=adapter_id))


def _adapter_from_json(data: Any, *, adapter_id: str | None = None) -> AdapterRegistration:
    data = _obj(data, "an adapter registration")
    _known(data, {"id", "dataset", "adapter", "config", "schedule", "enabled"},
           "an adapter registration")
    raw_id = data.get("id", adapter_id)
    if adapter_id is not None and raw_id != adapter_id:
        raise Invalid("the id in the body differs from the id in the path")
    config = data.get("config", {})
    if not isinstance(config, dict):
        raise Invalid("config must be a JSON object")
    schedule = _text(data, "schedule", limit=100)
    if schedule is not None and not is_schedule(schedule):  # as the worker reads it
        raise Invalid("schedule must be a 5-field cron expression or an ISO 8601 duration "
                      "such as PT10M")
    adapter = _text(data, "adapter", required=True, limit=100)
    assert adapter is not None
    return AdapterRegistration(
        id=slug(raw_id, "id"), dataset=slug(data.get("dataset"), "dataset"), adapter=adapter,
        config=config, schedule=schedule, enabled=_bool(data, "enabled", True),
    )


def _when(data: Mapping[str, Any], key: str, *, required: bool) -> datetime | None:
    raw = data.get(key)
    if raw is None:
        if required:
            raise Invalid(f"{key} is required (ISO 8601 date-time with offset)")
        return None
    try:
        ts = datetime.fromisoformat(raw.replace("Z", "+00:00")) if isinstance(raw, str) else None
    except ValueError:
        ts = None
    if ts is None or ts.tzinfo is None:
        raise Invalid(f"{key} must be an ISO 8601 date-time with an offset, e.g. …T09:00:00Z")
    return ts


def run_from_json(data: Any, adapter_id: str) -> AdapterRun:
    """Validated by :class:`registry.wire.RunBody` (the published schema) and the
    domain checks below."""
    return checked(RunBody, data, lambda: _run_from_json(data, adapter_id))


def _run_from_json(data: Any, adapter_id: str) -> AdapterRun:
    data = _obj(data, "a run")
    _known(data, {"startedAt", "finishedAt", "status", "counts", "errors"}, "a run")
    status = data.get("status")
    if status not in RUN_STATUSES:
        raise Invalid(f"status must be one of {', '.join(RUN_STATUSES)}")
    counts = data.get("counts", {})
    if not isinstance(counts, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
        for k, v in counts.items()
    ):
        raise Invalid("counts must map names (read, written, quarantined, …) to whole numbers")
    errors = data.get("errors", [])
    if not isinstance(errors, list) or not all(isinstance(e, str) for e in errors):
        raise Invalid("errors must be a list of strings")
    started = _when(data, "startedAt", required=True)
    assert started is not None
    finished = _when(data, "finishedAt", required=False)
    if finished is not None and finished < started:
        raise Invalid("finishedAt is before startedAt")
    return AdapterRun(adapter_id=adapter_id, started_at=started, finished_at=finished,
                      status=status, counts=counts, errors=tuple(e[:2000] for e in errors[:100]))


def with_times(record: Any, created: datetime | None, modified: datetime | None) -> Any:
    return replace(record, created_at=created, modified_at=modified)
