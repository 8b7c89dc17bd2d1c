"""``validate_stored``: check an entity in the hub's stored form against its contract.

The hub calls this on every write of a contract type, so it builds no pydantic model: at
import each contract's JSON Schema (the one pydantic derives from the model, so the rules
cannot drift apart) is compiled into a flat list of attribute checks, and a call only walks
the entity's attributes. The cross-attribute rules (quality, ordering, sums) are the very
functions the models run.

The stored form (docs/architecture.md, "Stored form of an entity"): ``attrs`` maps each
expanded attribute IRI to a list of instances (one per ``datasetId``) in normalized form;
``value`` is as the client sent it, ``object`` an expanded URI. A DateTime value may arrive
as a plain ISO 8601 string or as ``{"@type": "DateTime", "@value": ...}``; both are read.
A ``unitCode``, when present, must be the contract's; when absent, the contract's unit is
implied. Pass the entity's complete attributes after the write (a partial update must not
hide a required attribute).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from contracts.catalog import CONTRACTS, ContractInfo
from contracts.isbn import is_isbn13
from contracts.vocab import iri

__all__ = ["Violation", "validate_stored"]


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: the attribute (short name and expanded IRI), the rule, a message."""

    attribute: str
    iri: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.attribute}: {self.message} ({self.rule})"


Problem = tuple[str, str] | None  # (rule, message)
Check = Callable[[Any], Problem]

_DURATION = re.compile(
    r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$"
)
_JSON_TYPES: Final[dict[str, Callable[[Any], bool]]] = {
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def _date_time(v: str) -> bool:
    try:
        return datetime.fromisoformat(v).tzinfo is not None
    except ValueError:
        return False


_FORMATS: Final[dict[str, Callable[[str], bool]]] = {
    "date-time": _date_time,
    "duration": lambda v: bool(_DURATION.match(v)),
}


class _Compiler:
    """A JSON Schema subset (what pydantic emits for the contracts) -> check closures."""

    def __init__(self, defs: Mapping[str, Any]) -> None:
        self._defs = defs

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in schema:
            schema = self._defs[schema["$ref"].rsplit("/", 1)[1]]
        if "anyOf" in schema:
            branches = [b for b in schema["anyOf"] if b.get("type") != "null"]
            if len(branches) == 1:
                return self.resolve(branches[0])
        return schema

    def compile(self, schema: Mapping[str, Any]) -> Check:
        schema = self.resolve(schema)
        checks: list[Check] = []
        if "anyOf" in schema:
            options = [self.compile(b) for b in schema["anyOf"]]
            checks.append(
                lambda v: (
                    None
                    if any(o(v) is None for o in options)
                    else ("type", f"{v!r} matches none of the allowed forms")
                )
            )
        if "const" in schema:
            const = schema["const"]
            checks.append(lambda v: None if v == const else ("const", f"must be {const!r}"))
        if "enum" in schema:
            allowed = frozenset(schema["enum"])
            checks.append(
                lambda v: (
                    None
                    if isinstance(v, str | int) and v in allowed
                    else ("enum", f"{v!r} is not one of {sorted(allowed)}")
                )
            )
        kind = schema.get("type")
        if kind in _JSON_TYPES:
            test = _JSON_TYPES[kind]
            checks.append(lambda v: None if test(v) else ("type", f"{v!r} is not a {kind}"))
        checks += self._numeric(schema) + self._string(schema) + self._containers(schema)

        def check(value: Any) -> Problem:
            for c in checks:
                problem = c(value)
                if problem is not None:
                    return problem
            return None

        return check

    @staticmethod
    def _numeric(schema: Mapping[str, Any]) -> list[Check]:
        out: list[Check] = []
        if "minimum" in schema:
            lo = schema["minimum"]
            out.append(lambda v: ("minimum", f"{v!r} is below {lo}") if v < lo else None)
        if "maximum" in schema:
            hi = schema["maximum"]
            out.append(lambda v: ("maximum", f"{v!r} is above {hi}") if v > hi else None)
        return out

    @staticmethod
    def _string(schema: Mapping[str, Any]) -> list[Check]:
        out: list[Check] = []
        if "pattern" in schema:
            rx = re.compile(schema["pattern"])
            out.append(
                lambda v: (
                    None if rx.search(v) else ("pattern", f"{v!r} does not match {rx.pattern}")
                )
            )
        if "minLength" in schema:
            n = schema["minLength"]
            out.append(lambda v: ("minLength", f"shorter than {n}") if len(v) < n else None)
        if "format" in schema and schema["format"] in _FORMATS:
            fmt, ok = schema["format"], _FORMATS[schema["format"]]
            out.append(lambda v: None if ok(v) else ("format", f"{v!r} is not a {fmt}"))
        return out

    def _containers(self, schema: Mapping[str, Any]) -> list[Check]:
        out: list[Check] = []
        if "minItems" in schema:
            n = schema["minItems"]
            out.append(lambda v: ("minItems", f"fewer than {n} items") if len(v) < n else None)
        if "items" in schema:
            item = self.compile(schema["items"])
            out.append(lambda v: next((p for p in map(item, v) if p is not None), None))
        if isinstance(schema.get("additionalProperties"), dict):
            cell = self.compile(schema["additionalProperties"])
            out.append(lambda v: next((p for p in map(cell, v.values()) if p), None))
        if "propertyNames" in schema:
            key = self.compile({"type": "string", **schema["propertyNames"]})
            out.append(lambda v: next((p for p in map(key, v) if p is not None), None))
        if "properties" in schema:
            props = {k: self.compile(s) for k, s in schema["properties"].items()}
            closed = schema.get("additionalProperties") is False
            out.append(lambda v: _members(v, props, closed))
        return out

    def geometries(self, schema: Mapping[str, Any]) -> frozenset[str]:
        """The GeoJSON ``type`` values a GeoProperty's schema admits."""
        schema = self.resolve(schema)
        branches = schema.get("oneOf") or schema.get("anyOf") or [schema]
        found = set()
        for b in branches:
            const = self.resolve(b).get("properties", {}).get("type", {}).get("const")
            if const:
                found.add(const)
        return frozenset(found)


def _members(value: dict[str, Any], props: Mapping[str, Check], closed: bool) -> Problem:
    for key, member in value.items():
        check = props.get(key)
        if check is None:
            if closed:
                return "additionalProperties", f"{key!r} is not allowed"
            continue
        if member is not None and (problem := check(member)) is not None:
            return problem[0], f"{key}: {problem[1]}"
    return None


@dataclass(frozen=True, slots=True)
class _Attr:
    name: str
    iri: str
    kind: str
    unit: str | None
    required: bool
    check: Check
    geometries: frozenset[str]
    #: outcomes of ``_check_attr`` for scalar values (see ``_checked``)
    memo: dict[tuple[Any, ...], tuple[Any, Problem]] = field(
        default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class _Compiled:
    info: ContractInfo
    attrs: tuple[_Attr, ...]
    iris: frozenset[str]
    rules: tuple[Callable[[Mapping[str, Any]], Iterable[tuple[str, str]]], ...]
    suppressed: tuple[str, ...]


def _isbn_rule(values: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    isbn = values.get("isbn")
    if isinstance(isbn, str) and not is_isbn13(isbn):
        yield "isbn", f"{isbn!r} is not an ISBN-13 with a valid check digit"


def _compile(info: ContractInfo) -> _Compiled:
    schema = info.json_schema
    compiler = _Compiler(schema.get("$defs", {}))
    required = set(schema.get("required", ()))
    attrs = []
    for name in info.attributes:
        prop = schema["properties"][name]
        meta = prop.get("x-ngsi-ld", {"type": "Property"})
        attrs.append(
            _Attr(
                name,
                iri(name),
                meta["type"],
                meta.get("unitCode"),
                name in required,
                compiler.compile(prop),
                compiler.geometries(prop) if meta["type"] == "GeoProperty" else frozenset(),
            )
        )
    extra = (_isbn_rule,) if "isbn" in info.attributes else ()
    return _Compiled(
        info,
        tuple(attrs),
        frozenset(a.iri for a in attrs),
        (*info.model.all_rules(), *extra),
        info.model.suppressed,
    )


_COMPILED: Final = {c.type_iri: _compile(c) for c in CONTRACTS.values()}


def _default_instance(instances: Any) -> dict[str, Any] | None:
    if isinstance(instances, dict):
        return instances
    if not isinstance(instances, list) or not instances:
        return None
    return next((i for i in instances if "datasetId" not in i), instances[0])


def _instance_value(a: _Attr, inst: Mapping[str, Any]) -> tuple[Any, Problem]:
    """The plain value of one stored instance and any problem with its NGSI-LD shape."""
    if inst.get("type") != a.kind:
        return None, ("kind", f"must be a {a.kind}, not {inst.get('type')!r}")
    if a.kind == "Relationship":
        return inst.get("object"), None
    value = inst.get("value")
    if isinstance(value, dict) and "@value" in value and a.kind == "Property":
        value = value["@value"]
    unit = inst.get("unitCode")
    if unit is not None and unit != a.unit:
        return value, (
            "unitCode",
            f"unitCode must be {a.unit}, not {unit!r}"
            if a.unit
            else f"takes no unitCode, got {unit!r}",
        )
    return value, None


def _check_attr(a: _Attr, inst: Mapping[str, Any]) -> tuple[Any, Problem]:
    value, problem = _instance_value(a, inst)
    if problem is not None:
        return value, problem
    if a.kind == "GeoProperty":
        gtype = value.get("type") if isinstance(value, dict) else None
        if gtype not in a.geometries:
            return value, ("geometry", f"must be a GeoJSON {' or '.join(sorted(a.geometries))}")
        return value, None
    if value is None:
        return value, ("type", "has no value")
    return value, a.check(value)


_SCALARS = (str, int, float, bool)
_MEMO_LIMIT = 4096


def _checked(a: _Attr, inst: Mapping[str, Any]) -> tuple[Any, Problem]:
    """``_check_attr``, remembered per attribute for scalar values: the entities of a batch
    repeat their timestamps, codes and units, and a check of a date-time or a pattern costs
    more than the lookup. The key holds everything the outcome depends on (the value's class
    too: ``1 == 1.0 == True``); the memo starts over when it is full."""
    value = inst.get("object" if a.kind == "Relationship" else "value")
    kind, unit = inst.get("type"), inst.get("unitCode")
    if (value.__class__ not in _SCALARS or kind.__class__ is not str
            or not (unit is None or unit.__class__ is str)):
        return _check_attr(a, inst)
    key = (kind, unit, value.__class__, value)
    hit = a.memo.get(key)
    if hit is None:
        if len(a.memo) >= _MEMO_LIMIT:
            a.memo.clear()
        hit = a.memo[key] = _check_attr(a, inst)
    return hit


def _short(attr_iri: str) -> str:
    return re.split(r"[/#:]", attr_iri)[-1] or attr_iri


def validate_stored(
    type_iris: Collection[str],
    attrs: Mapping[str, Any],
    *,
    allow: Collection[str] = (),
    min_group_size: int | None = None,
) -> list[Violation]:
    """The contract violations of an entity in stored form; [] if it has no contract type.

    ``type_iris``: the entity's expanded types; ``attrs``: expanded IRI -> instances.
    ``allow``: attribute IRIs a closed (library) contract also accepts, e.g. the hub's
    provenance attributes. ``min_group_size``: when given, library counts that small-group
    suppression should have removed (``contracts.suppression``) are violations too.
    """
    out: list[Violation] = []
    for t in type_iris:
        compiled = _COMPILED.get(t)
        if compiled is not None:
            out += _validate(compiled, attrs, allow, min_group_size)
    return out


def _validate(
    c: _Compiled, attrs: Mapping[str, Any], allow: Collection[str], min_group_size: int | None
) -> list[Violation]:
    out: list[Violation] = []
    values: dict[str, Any] = {}
    for a in c.attrs:
        instances = attrs.get(a.iri)
        if instances is None:
            if a.required:
                out.append(Violation(a.name, a.iri, "required", f"{a.name} is required"))
            continue
        default_seen = False
        for inst in instances if isinstance(instances, list) else (instances,):
            if not isinstance(inst, dict):
                out.append(Violation(a.name, a.iri, "kind", f"{a.name}: not an attribute"))
                continue
            value, problem = _checked(a, inst)
            if problem is not None:
                out.append(Violation(a.name, a.iri, problem[0], f"{a.name}: {problem[1]}"))
            if not default_seen:  # the cross rules read the default instance
                values[a.name] = value
                default_seen = "datasetId" not in inst
    if c.info.model.closed:
        out += [
            Violation(
                _short(k),
                k,
                "closed",
                f"{_short(k)} is not an attribute of "
                f"{c.info.name}; library contracts carry no other data",
            )
            for k in attrs
            if k not in c.iris and k not in allow
        ]
    if not out:  # cross rules assume well-typed values
        by_name = {a.name: a for a in c.attrs}
        for rule in c.rules:
            for name, msg in rule(values):
                known = by_name.get(name)
                out.append(Violation(name, known.iri if known else iri(name), "rule", msg))
        if min_group_size is not None:
            out += _suppression(c, values, by_name, min_group_size)
    return out


def _suppression(
    c: _Compiled, values: Mapping[str, Any], by_name: Mapping[str, _Attr], minimum: int
) -> list[Violation]:
    out = []
    for name in c.suppressed:
        value = values.get(name)
        cells = value.values() if isinstance(value, dict) else [value]
        if any(isinstance(n, int) and 0 < n < minimum for n in cells):
            out.append(
                Violation(
                    name,
                    by_name[name].iri,
                    "suppression",
                    f"{name}: a group smaller than {minimum} must be suppressed",
                )
            )
    return out
