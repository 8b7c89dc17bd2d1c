"""What every contract model shares: the base classes, the quality rule, GeoJSON, ``attr``.

A contract model holds one entity in plain values keyed by the contract's short names (the
``keyValues`` shape); ``contracts.ngsi`` turns it into a normalized NGSI-LD entity and
``contracts.stored`` checks the hub's stored form against the same model's JSON Schema, so
the two can never disagree about what an attribute may hold.

Cross-attribute rules (``rules``) are plain functions over a mapping of short name to
value, so the pydantic validator and the stored-form validator run the very same code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from functools import cache
from itertools import pairwise
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "URI_PATTERN",
    "Contract",
    "Geometry",
    "LineString",
    "Observation",
    "Point",
    "Quality",
    "Rule",
    "as_datetime",
    "attr",
    "ordered",
    "ref",
]

Rule = Callable[[Mapping[str, Any]], Iterable[tuple[str, str]]]
"""A cross-attribute rule: given short name -> value, yields (attribute, message) per breach."""

ColumnCheck = Callable[[Mapping[str, Any], Mapping[str, Sequence[Any]], int], bool]
"""A rule asked of many entities at once (``contracts.template``): given the values they
share, the varying ones as columns (one entry per entity) and the count, False only when
the rule finds no breach in any of them (True may be a false alarm: it sends the entities
to the rule one by one)."""

_COLUMN_CHECKS: dict[Rule, ColumnCheck] = {}


def column_check(rule: Rule) -> ColumnCheck | None:
    """The rule's check over columns, if it has one (``ordered`` and the quality rule)."""
    return _COLUMN_CHECKS.get(rule)

URI_PATTERN = r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$"
"""An absolute URI: a scheme, a colon, no white space (entity ids and relationship objects)."""


class Quality(StrEnum):
    """The quality/status of an observation (Renkei ``quality``).

    Modelled on the flags of Japanese hydrological and meteorological data (正常, 暫定,
    推定, 疑義, 欠測), so a missing reading is published as ``missing`` rather than as 0.
    """

    normal = "normal"  # 正常: checked, valid
    provisional = "provisional"  # 暫定・速報値: not yet checked; may be revised
    estimated = "estimated"  # 推定・補間: filled in from neighbours or a model
    questionable = "questionable"  # 疑義: failed a plausibility check, kept for review
    missing = "missing"  # 欠測: no reading; the measured attributes are absent


def attr(
    default: Any = None,
    *,
    kind: Literal["Property", "Relationship", "GeoProperty"] = "Property",
    unit: str | None = None,
    description: str,
    **constraints: Any,
) -> Any:
    """A contract attribute: a pydantic ``Field`` that also records its NGSI-LD kind and
    UN/CEFACT unit code under ``x-ngsi-ld`` in the JSON Schema (read by ``stored``/``ngsi``)."""
    extra: dict[str, Any] = {"type": kind}
    if unit is not None:
        extra["unitCode"] = unit
    return Field(
        default, description=description, json_schema_extra={"x-ngsi-ld": extra}, **constraints
    )


def ref(description: str, default: Any = None) -> Any:
    """A Relationship attribute whose value is the id (URI) of another entity."""
    return attr(default, kind="Relationship", pattern=URI_PATTERN, description=description)


_Lon = Annotated[float, Field(ge=-180, le=180)]
_Lat = Annotated[float, Field(ge=-90, le=90)]


class Point(BaseModel):
    """A GeoJSON Point (RFC 7946 3.1.2): longitude, latitude in WGS 84."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["Point"] = "Point"
    coordinates: tuple[_Lon, _Lat]


class LineString(BaseModel):
    """A GeoJSON LineString (RFC 7946 3.1.4), e.g. a counted road section."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["LineString"] = "LineString"
    coordinates: list[tuple[_Lon, _Lat]] = Field(min_length=2)


Geometry = Annotated[Point | LineString, Field(discriminator="type")]


def as_datetime(value: Any) -> datetime | None:
    """A datetime from a model value or a stored ISO 8601 string; None if neither."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def ordered(*names: str, strict: bool = False) -> Rule:
    """A rule: the named attributes, where present, do not decrease in the order given."""

    def rule(values: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
        # runs once per entity: answers a list (no generator)
        present = [(n, values[n]) for n in names if values.get(n) is not None]
        broken = []
        for (a, va), (b, vb) in pairwise(present):
            if isinstance(va, (str, datetime)) and not (type(va) is type(vb) is datetime):
                va, vb = as_datetime(va), as_datetime(vb)
                if va is None or vb is None:
                    continue  # a malformed date-time is reported by its own check
            if vb < va or (strict and vb == va):
                broken.append((b, f"{b} must not be {'at or ' if strict else ''}before {a}"))
        return broken

    def check(shared: Mapping[str, Any], columns: Mapping[str, Sequence[Any]],
              count: int) -> bool:
        if count and columns.keys().isdisjoint(names):
            return bool(rule(shared))  # the same values in every entity: asked once
        return any(rule({**shared, **{n: columns[n][i] for n in names if n in columns}})
                   for i in range(count))

    _COLUMN_CHECKS[rule] = check
    return rule


class Contract(BaseModel):
    """Base of every contract: an entity ``id`` (a URI) and a closed set of attributes.

    ``extra="forbid"``: an attribute the contract does not define is refused, which is
    what keeps personal data out of the library contracts.
    """

    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    closed: ClassVar[bool] = False
    """True: in the stored form too, attributes outside the contract are violations."""
    rules: ClassVar[tuple[Rule, ...]] = ()
    suppressed: ClassVar[tuple[str, ...]] = ()
    """Counts subject to small-group suppression (``contracts.suppression``)."""

    id: str = Field(
        pattern=URI_PATTERN, description="Entity id, a URI (urn:ngsi-ld:<type>:<local id>)."
    )

    @classmethod
    def all_rules(cls) -> tuple[Rule, ...]:
        return cls.rules

    @model_validator(mode="after")
    def _cross_rules(self) -> Contract:
        # Runs once per entity an adapter emits, so it reads the rules from a per-class
        # cache and the validated fields straight from ``__dict__`` (short name -> value;
        # extra attributes are forbidden, so it holds exactly the contract's fields).
        # A rule answers an empty list or tuple when nothing is broken: only then is the
        # message gathered (the rules are pure, so asking them again answers the same).
        values = self.__dict__
        for rule in _rules_of(type(self)):
            if rule(values):
                broken = [f"{a}: {msg}" for each in _rules_of(type(self))
                          for a, msg in each(values)]
                if broken:
                    raise ValueError("; ".join(broken))
                break
        return self


@cache
def _rules_of(cls: type[Contract]) -> tuple[Rule, ...]:
    """``cls.all_rules()``, built once per contract class (an observation's quality rule is a
    closure over its measured attributes)."""
    return cls.all_rules()


class Observation(Contract):
    """An observation: ``quality`` is mandatory and agrees with the measured attributes.

    ``quality == missing`` means no measured attribute is present; any other quality means
    at least one is. So a reading never silently becomes a zero, nor an absence "normal".
    """

    measured: ClassVar[tuple[str, ...]] = ()
    """The attributes that carry the measurement (the ones ``quality`` qualifies)."""
    observed_at: ClassVar[str] = "dateObserved"
    """The attribute whose instant becomes ``observedAt`` of the measured attributes."""

    quality: Quality = attr(
        ...,
        description="Quality/status of the observation: normal, provisional, estimated, "
        "questionable or missing (then no measured attribute is present).",
    )

    @classmethod
    def all_rules(cls) -> tuple[Rule, ...]:
        return (_quality_rule(cls.measured), *cls.rules)


_MISSING = Quality.missing  # read once (an enum member is looked up through a descriptor)


def _quality_rule(measured: tuple[str, ...]) -> Rule:
    # Runs once per observation entity: answers a list (no generator), and reads each
    # measured attribute once.
    def rule(values: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
        get = values.get
        quality = get("quality")
        if quality is None:
            return ()
        if quality != _MISSING:
            for m in measured:  # most observations have their first measured attribute
                if get(m) is not None:
                    return ()
        present = [m for m in measured if get(m) is not None]
        if quality == _MISSING:
            return [(m, "a missing observation (quality missing) carries no value")
                    for m in present]
        if not present:
            return [(
                "quality",
                (
                    f"no measured value ({', '.join(measured)}); "
                    "a reading that is absent must have quality missing"
                ),
            )]
        return ()

    def check(shared: Mapping[str, Any], columns: Mapping[str, Sequence[Any]],
              count: int) -> bool:
        # rule() per entity, over the few columns it reads: a breach is a missing quality
        # with a value present, or another quality with none
        qualities = columns.get("quality") or [shared.get("quality")] * count
        varying = [columns[m] for m in measured if m in columns]
        fixed = False  # a shared measured value: present in every entity
        for m in measured:
            if m not in columns and shared.get(m) is not None:
                fixed = True
                break
        if fixed or not varying:
            for q in qualities:  # noqa: SIM110 (a loop: any() of a generator costs more)
                if q is not None and (q == _MISSING) == fixed:
                    return True
            return False
        if len(varying) == 1:
            present: Iterable[bool] = [v is not None for v in varying[0]]
        else:
            present = [any(v is not None for v in vs) for vs in zip(*varying, strict=True)]
        for q, p in zip(qualities, present, strict=True):
            if q is not None and (q == _MISSING) == p:
                return True
        return False

    _COLUMN_CHECKS[rule] = check
    return rule
