"""Parse one attribute of a request payload into stored instances (GS CIM 009 4.5, 5.2).

Accepts the normalized and the concise input forms and always produces the normalized
stored form described in docs/architecture.md, so everything downstream sees one shape.
"""

from __future__ import annotations

from typing import Any, Protocol

from hub.errors import BadRequestData
from hub.ngsild.checks import is_datetime, is_uri, valid_attr_name
from hub.query.geo import validate_geojson

__all__ = [
    "ATTR_TYPES",
    "DELETE",
    "GEO_ATTRS",
    "META_KEYS",
    "Expander",
    "is_deletion",
    "parse_attribute",
    "parse_fragment",
    "parse_instance",
]

# attribute type -> its value member (4.5.2 .. 4.5.24)
ATTR_TYPES: dict[str, str] = {
    "Property": "value",
    "Relationship": "object",
    "GeoProperty": "value",
    "LanguageProperty": "languageMap",
    "VocabProperty": "vocab",
    "JsonProperty": "json",
    "ListProperty": "valueList",
    "ListRelationship": "objectList",
}
_VALUE_KEYS = {v: k for k, v in ATTR_TYPES.items() if k != "GeoProperty"}
META_KEYS = frozenset(
    {"type", "datasetId", "observedAt", "unitCode", "createdAt", "modifiedAt", "deletedAt",
     "instanceId", "lang", "@context", *ATTR_TYPES.values()}
)
_SYSTEM = frozenset({"createdAt", "modifiedAt", "deletedAt", "instanceId"})
GEO_TYPES = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon",
     "GeometryCollection"}
)
GEO_ATTRS = frozenset(
    {"https://uri.etsi.org/ngsi-ld/location", "https://uri.etsi.org/ngsi-ld/observationSpace",
     "https://uri.etsi.org/ngsi-ld/operationSpace"}
)
NULL_URI = "urn:ngsi-ld:null"
#: deepest sub-attribute nesting accepted (an attribute's sub-attribute is level 1)
MAX_SUB_DEPTH = 16
#: deepest JSON nesting of one value member (``value``, ``json``, ``valueList`` ...); the
#: stored form must stay well inside orjson's and PostgreSQL's own limits
MAX_VALUE_DEPTH = 64


class _Delete:
    """Marker returned by merge-mode parsing for an attribute set to null (5.6.17)."""

    def __repr__(self) -> str:
        return "DELETE"


DELETE = _Delete()


class Expander(Protocol):
    def expand(self, term: str) -> str: ...


def _type_of(raw: dict[str, Any]) -> str | None:
    """The ``type`` member, None when absent; 400 when it is not a string (a list, an
    object, a number or ``null`` used to reach set/dict look-ups and fail with a 500)."""
    t = raw.get("type")
    if t is None and "type" not in raw:
        return None
    if t.__class__ is not str:
        raise BadRequestData(f"an attribute's type must be a string, got {_kind(t)}")
    return t


def _kind(value: Any) -> str:
    """The JSON kind of a value, for messages that must not echo arbitrary input."""
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "an array", dict: "an object"}.get(value.__class__, "a value")


def _check_depth(value: Any, member: str) -> None:
    """400 when a value nests deeper than ``MAX_VALUE_DEPTH`` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_VALUE_DEPTH:
            raise BadRequestData(
                f"the {member!r} member nests deeper than {MAX_VALUE_DEPTH} levels")
        if node.__class__ is dict:
            stack.extend((v, depth + 1) for v in node.values() if v.__class__ in _NESTED)
        elif node.__class__ is list:
            stack.extend((v, depth + 1) for v in node if v.__class__ in _NESTED)


_NESTED = frozenset({dict, list})


def _infer_type(raw: dict[str, Any]) -> str:
    t = _type_of(raw)
    if isinstance(t, str) and t in ATTR_TYPES:
        return t
    if t is not None and (not isinstance(t, str) or t not in GEO_TYPES):
        raise BadRequestData(f"unknown attribute type {t!r}")
    for key, typ in _VALUE_KEYS.items():
        if key in raw:
            return typ
    raise BadRequestData("attribute has no type and no value member")


def _is_null(value: Any) -> bool:
    """NGSI-LD null (4.5.0): ``urn:ngsi-ld:null``, or a languageMap of it.

    A JSON ``null`` as a value member stays an error; only a whole attribute set to JSON
    ``null`` in a merge-patch means "remove the attribute" (RFC 7396).
    """
    if isinstance(value, dict) and len(value) == 1 and "@none" in value:
        return _is_null(value["@none"])
    return value == NULL_URI


def is_deletion(inst: dict[str, Any]) -> bool:
    """True for an instance whose value member is the null marker: delete that instance."""
    return any(inst.get(m) is DELETE for m in ATTR_TYPES.values())


def parse_attribute(
    name: str, iri: str, raw: Any, ctx: Expander, now: str, *, merge: bool = False
) -> list[dict[str, Any]] | _Delete:
    """All instances of one attribute; ``DELETE`` for a merge-mode null."""
    if not valid_attr_name(name):
        raise BadRequestData(f"invalid attribute name {name!r}")
    if merge and (raw is None or _is_null(raw)):
        return DELETE
    if isinstance(raw, list) and raw and all(_looks_like_instance(x) for x in raw):
        parse = parse_fragment if merge else parse_instance
        instances = [parse(iri, x, ctx, now, merge=merge) for x in raw]
        seen: set[str | None] = set()
        for inst in instances:
            ds = inst.get("datasetId")
            if ds in seen:
                raise BadRequestData(f"attribute {name!r} repeats datasetId {ds!r}")
            seen.add(ds)
        return instances
    if merge:
        return [parse_fragment(iri, raw, ctx, now)]
    return [parse_instance(iri, raw, ctx, now)]


def _looks_like_instance(x: Any) -> bool:
    return isinstance(x, dict) and (
        _type_of(x) in ATTR_TYPES or any(k in x for k in _VALUE_KEYS)
    )


_PLAIN_MEMBERS = {"Property": ("value", frozenset({"type", "value", "observedAt", "unitCode"})),
                  "Relationship": ("object", frozenset({"type", "object", "observedAt"}))}
_SCALARS = frozenset({str, int, float, bool})


def _plain_instance(raw: dict[str, Any], now: str) -> dict[str, Any] | None:
    """The stored form of the shape nearly every written attribute has — a Property with a
    scalar ``value`` and at most ``observedAt`` and ``unitCode``, or a Relationship with one
    ``object`` — or None for anything else, which the general path parses (and refuses
    with its own messages). The same instance the general path makes, member for member
    and in its order, at a third of the cost: parsing was a fifth of a batch upsert."""
    typ = raw.get("type")
    if typ.__class__ is not str:
        return None
    plain = _PLAIN_MEMBERS.get(typ)
    if plain is None:
        return None
    member, allowed = plain
    value = raw.get(member)
    if value.__class__ not in _SCALARS or not allowed.issuperset(raw):
        return None
    if member == "object" and not is_uri(value):
        return None
    inst = {"type": raw["type"], member: value}
    for key, val in raw.items():
        if key == "observedAt":
            if not is_datetime(val):
                return None
            inst[key] = val
        elif key == "unitCode":
            if val.__class__ is not str:
                return None
            inst[key] = val
    inst["createdAt"] = now
    inst["modifiedAt"] = now
    return inst


def parse_instance(
    iri: str, raw: Any, ctx: Expander, now: str, *, merge: bool = False, sub: bool = False,
    depth: int = 0,
) -> dict[str, Any]:
    """One attribute instance (or sub-attribute at nesting ``depth``) in stored form, with
    system timestamps."""
    if not merge and raw.__class__ is dict:
        fast = _plain_instance(raw, now)
        if fast is not None:
            return fast
    if depth > MAX_SUB_DEPTH:
        raise BadRequestData(f"sub-attributes nest deeper than {MAX_SUB_DEPTH} levels")
    if isinstance(raw, dict) and _type_of(raw) in GEO_TYPES and (
        "coordinates" in raw or "geometries" in raw
    ):
        # concise GeoProperty: the GeoJSON geometry itself
        validate_geojson(raw)
        return {"type": "GeoProperty", "value": raw, "createdAt": now, "modifiedAt": now}
    if not isinstance(raw, dict):
        if raw is None:
            raise BadRequestData("attribute value must not be null")
        if raw.__class__ is list:
            _check_depth(raw, "value")
        return {"type": "Property", "value": raw, "createdAt": now, "modifiedAt": now}
    typ = _infer_type(raw)
    if typ == "Property" and iri in GEO_ATTRS and isinstance(raw.get("value"), dict) and (
        _is_str_in(raw["value"].get("type"), GEO_TYPES)
    ):
        typ = "GeoProperty"
    member = ATTR_TYPES[typ]
    if member not in raw:
        raise BadRequestData(f"{typ} requires the member {member!r}")
    value = raw[member]
    inst: dict[str, Any] = {"type": typ}
    if merge and _is_null(value):
        inst[member] = DELETE
    else:
        inst[member] = _check_value(typ, value, ctx)
    for key, val in raw.items():
        if key in ("type", member) or key in _SYSTEM:
            continue
        if key == "datasetId":
            if sub:
                raise BadRequestData("sub-attributes cannot carry a datasetId")
            if not is_uri(val):
                raise BadRequestData(f"datasetId must be a URI, got {val!r}")
            inst[key] = val
        elif key == "observedAt":
            if not is_datetime(val):
                raise BadRequestData(f"observedAt must be a DateTime, got {val!r}")
            inst[key] = val
        elif key == "unitCode":
            if not isinstance(val, str):
                raise BadRequestData("unitCode must be a string")
            inst[key] = val
        elif key in META_KEYS:
            raise BadRequestData(f"member {key!r} is not allowed in a {typ}")
        else:
            if not valid_attr_name(key):
                raise BadRequestData(f"invalid sub-attribute name {key!r}")
            sub_iri = ctx.expand(key)
            inst[sub_iri] = parse_instance(sub_iri, val, ctx, now, merge=merge, sub=True,
                                           depth=depth + 1)
    inst["createdAt"] = now
    inst["modifiedAt"] = now
    return inst


def _is_str_in(value: Any, allowed: frozenset[str]) -> bool:
    """Membership that cannot raise: an unhashable value (list, dict) is simply not in."""
    return value.__class__ is str and value in allowed


def _check_value(typ: str, value: Any, ctx: Expander) -> Any:
    if value is None:
        raise BadRequestData(f"the value of a {typ} must not be null")
    if value.__class__ in _NESTED:
        _check_depth(value, ATTR_TYPES[typ])
    if typ == "Relationship":
        targets = value if isinstance(value, list) else [value]
        if not targets or not all(is_uri(t) for t in targets):
            raise BadRequestData(f"Relationship object must be a URI, got {value!r}")
    elif typ == "GeoProperty":
        validate_geojson(value)
    elif typ == "LanguageProperty":
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and (isinstance(v, str) or (
                isinstance(v, list) and all(isinstance(s, str) for s in v)))
            for k, v in value.items()
        ):
            raise BadRequestData("languageMap must map language tags to strings")
    elif typ == "VocabProperty":
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str) and v for v in items):
            raise BadRequestData("vocab must be a string or a list of strings")
        expanded = [ctx.expand(v) for v in items]
        return expanded if isinstance(value, list) else expanded[0]
    elif typ == "ListProperty":
        if not isinstance(value, list):
            raise BadRequestData("valueList must be an array")
    elif typ == "ListRelationship":
        if not isinstance(value, list):
            raise BadRequestData("objectList must be an array")
        out = []
        for item in value:
            obj = item.get("object") if isinstance(item, dict) else item
            if not is_uri(obj):
                raise BadRequestData(f"objectList items must be URIs, got {item!r}")
            out.append({"object": obj})
        return out
    return value


def parse_fragment(
    iri: str, raw: Any, ctx: Expander, now: str, *, merge: bool = True
) -> dict[str, Any]:
    """A partial instance for partial update / merge (5.6.4, 5.6.17): any member may be absent.

    A fragment that does carry a value member is parsed as a full instance, so its value is
    validated exactly like on create.
    """
    if not isinstance(raw, dict):
        return parse_instance(iri, raw, ctx, now, merge=merge)
    if _type_of(raw) in ATTR_TYPES or any(k in raw for k in _VALUE_KEYS):
        full = parse_instance(iri, raw, ctx, now, merge=merge)
        full.pop("createdAt", None)
        return full
    if "type" in raw:
        raise BadRequestData(f"unknown attribute type {raw['type']!r}")
    inst: dict[str, Any] = {}
    for key, val in raw.items():
        if key in _SYSTEM:
            continue
        if key == "datasetId":
            if not is_uri(val):
                raise BadRequestData(f"datasetId must be a URI, got {val!r}")
            inst[key] = val
        elif key == "observedAt":
            if merge and _is_null(val):
                inst[key] = DELETE
            elif not is_datetime(val):
                raise BadRequestData(f"observedAt must be a DateTime, got {val!r}")
            else:
                inst[key] = val
        elif key == "unitCode":
            if merge and _is_null(val):
                inst[key] = DELETE
            elif not isinstance(val, str):
                raise BadRequestData("unitCode must be a string")
            else:
                inst[key] = val
        elif key in META_KEYS:
            raise BadRequestData(f"member {key!r} is not allowed here")
        else:
            if not valid_attr_name(key):
                raise BadRequestData(f"invalid sub-attribute name {key!r}")
            sub_iri = ctx.expand(key)
            if merge and _is_null(val):
                inst[sub_iri] = DELETE
            else:
                inst[sub_iri] = parse_instance(sub_iri, val, ctx, now, merge=merge, sub=True)
    inst["modifiedAt"] = now
    return inst
