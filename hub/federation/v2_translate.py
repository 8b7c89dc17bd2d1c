"""NGSI v2 <-> NGSI-LD translation for NGSI v2 context sources: pure functions, no I/O.

The mapping follows what FIWARE publishes for moving NGSI v2 data to NGSI-LD (the IoT Agent
library's NGSI-LD mode, the Lepus adapter, the "NGSI-v2 to NGSI-LD" tutorials and data
models); docs/federation-v2.md lists it rule by rule:

* entity ids that are not URIs become ``urn:ngsi-ld:<Type>:<id>`` (and back: a requested
  ``urn:ngsi-ld:<Type>:<id>`` is looked for both as that literal id and as ``<id>`` of type
  ``<Type>``); ids that already are URIs are kept;
* type, attribute and metadata names become IRIs: ``terms`` (a registration's own term
  table) first, a name that already is a URI as it is, anything else in the NGSI-LD default
  vocabulary ``https://uri.etsi.org/ngsi-ld/default-context/<name>``;
* ``metadata`` become sub-properties, except a ``TimeInstant``-style date metadata, which
  becomes ``observedAt``, and ``unitCode``, which becomes ``unitCode``; Orion's own
  ``dateCreated``/``dateModified`` metadata are dropped;
* ``geo:json`` becomes a GeoProperty; the old simple forms ``geo:point`` ("lat, lon"),
  ``geo:line``, ``geo:box`` and ``geo:polygon`` become GeoJSON with [lon, lat] positions;
* ``Relationship`` attributes (and ``refX`` attributes with a string value) become
  Relationships whose ``object`` is the translated target id;
* ``DateTime``/``Date``/``Time`` values become ``{"@type": ..., "@value": ...}``; numbers,
  text, booleans and structured values are kept; an attribute whose value is ``null`` is
  left out (NGSI-LD has no null Property value).

The query side (``plan_query``) turns a ``SourceQuery`` into v2 query parameters where v2
can say the same thing, and otherwise into a *scan*: candidates fetched with whatever part
could be pushed down, then filtered here with the hub's own ``q`` evaluator
(``hub.query.qlang_eval``), so the answer, its pagination and its count mean exactly what
they mean for local data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hub.jsonld.core import DEFAULT_VOCAB
from hub.query.linear_regex import LinearPattern, PatternError, compile_linear
from hub.query.qlang import META, QExpr, parse_q
from hub.query.qlang_eval import evaluate_q

__all__ = [
    "ID_PREFIX",
    "OBSERVED_AT_METADATA",
    "QPlan",
    "V2FormatError",
    "V2Names",
    "attribute_to_ld",
    "entity_to_ld",
    "is_uri",
    "ld_entity_id",
    "local_q",
    "plan_query",
    "project",
    "translate_q",
    "v2_id_candidates",
]

ID_PREFIX = "urn:ngsi-ld:"
#: metadata names that carry the observation time of an attribute (the IoT Agents write
#: ``TimeInstant``; Smart Data Models use ``dateObserved``/``timestamp``)
OBSERVED_AT_METADATA = ("TimeInstant", "observedAt", "dateObserved", "timestamp")
#: metadata Orion adds by itself when asked (``metadata=dateCreated``): not the source's data
_SYSTEM_METADATA = frozenset({"dateCreated", "dateModified"})
_TEMPORAL_TYPES = frozenset({"DateTime", "Date", "Time"})

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
# Orion refuses these in ids, types and attribute names (forbidden characters, and the ones
# that cannot travel in a URL path); 256 characters at most.
_V2_NAME = re.compile(r"[^\s<>\"'=;()&?/#%\x00-\x1f\x7f]{1,256}")
_REF = re.compile(r"ref([A-Z][A-Za-z0-9_]*)")


class V2FormatError(ValueError):
    """The source answered something that is not an NGSI v2 entity (or list of them)."""


def is_uri(text: str) -> bool:
    """Whether ``text`` starts with a URI scheme (``urn:``, ``https:``, ``ex:`` ...)."""
    return _SCHEME.match(text) is not None


def _v2_valid(text: str) -> bool:
    return _V2_NAME.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class V2Names:
    """How v2 names (types, attributes, metadata) map to IRIs and back.

    ``terms`` maps a v2 name to its IRI (a registration's term table, e.g. derived from its
    ``jsonldContext``); without an entry the default rule applies. The reverse direction is
    what the source can possibly hold: an IRI no v2 name maps to names nothing there.
    """

    terms: Mapping[str, str] = field(default_factory=dict)
    _reverse: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_reverse", {iri: name for name, iri in self.terms.items()})

    def iri(self, name: str) -> str:
        found = self.terms.get(name)
        if found is not None:
            return found
        return name if is_uri(name) else DEFAULT_VOCAB + name

    def name(self, iri: str) -> str | None:
        """The v2 name whose IRI is ``iri``, or None when no v2 name can have it."""
        found = self._reverse.get(iri)
        if found is None:
            if iri.startswith(DEFAULT_VOCAB):
                found = iri[len(DEFAULT_VOCAB):]
                if is_uri(found) or found in self.terms:
                    return None  # that v2 name would have translated to another IRI
            elif is_uri(iri) and iri not in self.terms:
                found = iri
            else:
                return None
        return found if _v2_valid(found) else None


# -- ids -----------------------------------------------------------------------------------


def ld_entity_id(v2_id: str, v2_type: str) -> str:
    """The NGSI-LD id of a v2 entity: its own id when that is a URI, otherwise
    ``urn:ngsi-ld:<Type>:<id>`` (the form FIWARE's data models and tutorials use)."""
    return v2_id if is_uri(v2_id) else f"{ID_PREFIX}{v2_type}:{v2_id}"


def v2_id_candidates(ld_id: str) -> list[tuple[str, str | None]]:
    """The v2 (id, type) pairs that translate to ``ld_id``, most literal first: the id
    itself (any type), and for ``urn:ngsi-ld:<Type>:<id>`` the short ``<id>`` of ``<Type>``.
    Ids the source cannot hold (characters Orion forbids) are left out."""
    out: list[tuple[str, str | None]] = []
    if _v2_valid(ld_id):
        out.append((ld_id, None))
    if ld_id.startswith(ID_PREFIX):
        v2_type, sep, short = ld_id[len(ID_PREFIX):].partition(":")
        if sep and _v2_valid(v2_type) and _v2_valid(short) and not is_uri(short):
            out.append((short, v2_type))
    return out


# -- values --------------------------------------------------------------------------------


def _instant(value: Any) -> str | None:
    """An ISO 8601 date-time as NGSI-LD ``observedAt`` (UTC, ``Z``), or None."""
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # Orion stores date-times in UTC
    text = parsed.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _lat_lon(text: Any) -> list[float] | None:
    """A v2 simple-location point ``"lat, lon"`` as a GeoJSON position ``[lon, lat]``."""
    if not isinstance(text, str):
        return None
    parts = text.split(",")
    if len(parts) != 2:
        return None
    try:
        lat, lon = float(parts[0]), float(parts[1])
    except ValueError:
        return None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return None
    return [lon, lat]


def _positions(value: Any) -> list[list[float]] | None:
    if not isinstance(value, list) or not value:
        return None
    points = [_lat_lon(p) for p in value]
    return None if any(p is None for p in points) else points  # type: ignore[return-value]


def _geometry(v2_type: str, value: Any) -> dict[str, Any] | None:
    """GeoJSON for a v2 location attribute, or None when the value does not fit its type."""
    if v2_type == "geo:json":
        ok = isinstance(value, dict) and isinstance(value.get("type"), str)
        return value if ok else None
    if v2_type == "geo:point":
        point = _lat_lon(value)
        return None if point is None else {"type": "Point", "coordinates": point}
    points = _positions(value)
    if points is None:
        return None
    if v2_type == "geo:line" and len(points) >= 2:
        return {"type": "LineString", "coordinates": points}
    if v2_type == "geo:polygon" and len(points) >= 4 and points[0] == points[-1]:
        return {"type": "Polygon", "coordinates": [points]}
    if v2_type == "geo:box" and len(points) == 2:
        (w, s), (e, n) = points
        ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
        return {"type": "Polygon", "coordinates": [ring]}
    return None


def _object(name: str, target: str) -> str | None:
    """The NGSI-LD target of a relationship value: a URI as it is; for ``refX`` a plain id
    names an ``X`` (``refStore: "s1"`` -> ``urn:ngsi-ld:Store:s1``)."""
    if is_uri(target):
        return target
    m = _REF.fullmatch(name)
    return ld_entity_id(target, m.group(1)) if m and _v2_valid(target) else None


def _relationship(name: str, v2_type: Any, value: Any) -> dict[str, Any] | None:
    if v2_type != "Relationship" and not (_REF.fullmatch(name) and isinstance(value, str)):
        return None
    if isinstance(value, str):
        target = _object(name, value)
        return None if target is None else {"type": "Relationship", "object": target}
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        targets = [_object(name, v) for v in value]
        if all(t is not None for t in targets):
            return {"type": "ListRelationship", "objectList": [{"object": t} for t in targets]}
    return None


def _value_instance(name: str, v2_type: Any, value: Any) -> dict[str, Any]:
    """One v2 attribute (or metadata) value as an NGSI-LD instance, without sub-attributes."""
    if isinstance(v2_type, str) and v2_type.startswith("geo:"):
        geometry = _geometry(v2_type, value)
        if geometry is not None:
            return {"type": "GeoProperty", "value": geometry}
        return {"type": "Property", "value": value}
    rel = _relationship(name, v2_type, value)
    if rel is not None:
        return rel
    if v2_type in _TEMPORAL_TYPES and isinstance(value, str):
        return {"type": "Property", "value": {"@type": v2_type, "@value": value}}
    return {"type": "Property", "value": value}


def _type_and_value(raw: Any) -> tuple[Any, Any, Any]:
    """(type, value, metadata) of a normalized v2 attribute; a bare value (keyValues) too."""
    if isinstance(raw, dict) and "value" in raw:
        return raw.get("type"), raw["value"], raw.get("metadata")
    return None, raw, None


def attribute_to_ld(name: str, raw: Any, names: V2Names) -> dict[str, Any] | None:
    """One v2 attribute as an NGSI-LD attribute instance (sub-attribute keys are IRIs), or
    None for an attribute with a null value."""
    v2_type, value, metadata = _type_and_value(raw)
    if value is None:
        return None
    instance = _value_instance(name, v2_type, value)
    if not isinstance(metadata, dict):
        return instance
    for meta_name, meta in metadata.items():
        if not isinstance(meta_name, str) or meta_name in _SYSTEM_METADATA:
            continue
        meta_type, meta_value, _ = _type_and_value(meta)
        if meta_value is None:
            continue
        if meta_name in OBSERVED_AT_METADATA and "observedAt" not in instance:
            observed = _instant(meta_value)
            if observed is not None:
                instance["observedAt"] = observed
                continue
        if meta_name == "unitCode" and isinstance(meta_value, str):
            instance["unitCode"] = meta_value
            continue
        instance[names.iri(meta_name)] = _value_instance(meta_name, meta_type, meta_value)
    return instance


def entity_to_ld(entity: Any, names: V2Names) -> dict[str, Any]:
    """A normalized v2 entity as an NGSI-LD normalized entity with IRIs for every name."""
    if not isinstance(entity, dict):
        raise V2FormatError(f"an entity is a JSON object, not {type(entity).__name__}")
    v2_id, v2_type = entity.get("id"), entity.get("type", "Thing")
    if not isinstance(v2_id, str) or not v2_id or not isinstance(v2_type, str) or not v2_type:
        raise V2FormatError("an entity without a string id and type")
    out: dict[str, Any] = {"id": ld_entity_id(v2_id, v2_type), "type": [names.iri(v2_type)]}
    for name, raw in entity.items():
        if name in ("id", "type") or not isinstance(name, str):
            continue
        instance = attribute_to_ld(name, raw, names)
        if instance is not None:
            out[names.iri(name)] = instance
    return out


def project(entity: dict[str, Any], attrs: Iterable[str]) -> dict[str, Any]:
    """Keep only the listed attribute IRIs (and id, type)."""
    keep = set(attrs)
    return {k: v for k, v in entity.items() if k in ("id", "type") or k in keep}


# -- q -------------------------------------------------------------------------------------

# A term of a top-level conjunction: [!]name [op value]. The name is anything up to the
# language's punctuation, so an IRI (``https://…/temperature``) is one name.
_TERM = re.compile(
    r"\s*(?P<neg>!)?\s*(?P<name>[^\s=!<>~;|()\[\]\"']+)\s*"
    r"(?:(?P<op>==|!=|>=|<=|>|<|!~=|~=)\s*(?P<value>.+?))?\s*",
    re.DOTALL,
)
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?")
# a name segment that starts a new IRI inside ``attr.sub`` (``.`` then a scheme)
_IRI_SEGMENT = re.compile(r"\.(?=[A-Za-z][A-Za-z0-9+\-]*:)")


def _split_top(text: str, sep: str) -> list[str] | None:
    """Split at ``sep`` outside strings and parentheses; None when a ``|`` is found at the
    top level (a disjunction has no conjunction to split) or quotes do not close."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            i += 1
            while i < len(text) and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            if i >= len(text):
                return None
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and ch == "|":
            return None
        elif depth == 0 and ch == sep:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def _split_values(text: str) -> tuple[list[str], bool] | None:
    """The values of a comparison (``a,b,c`` or a range ``a..b``) and whether it is a range;
    None when quotes do not close."""
    values, start, i, is_range = [], 0, 0, False
    while i < len(text):
        if text[i] == '"':
            i += 1
            while i < len(text) and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            if i >= len(text):
                return None
        elif text[i] == ",":
            values.append(text[start:i])
            start = i + 1
        elif text.startswith("..", i):
            values.append(text[start:i])
            is_range = True
            i += 1
            start = i + 1
        i += 1
    values.append(text[start:])
    return [v.strip() for v in values], is_range


def _v2_literal(token: str) -> str | None:
    """An NGSI-LD q value as v2 q text, when v2 compares it the same way: numbers, booleans,
    date-times, and strings that are not URIs (a URI may be a relationship target, whose
    v2 form is another id)."""
    if _NUMBER.fullmatch(token) or token in ("true", "false") or _DATETIME.fullmatch(token):
        return token
    if token.startswith('"'):
        try:
            text = json.loads(token)
        except ValueError:
            return None
        if not isinstance(text, str) or "'" in text or is_uri(text) or not text:
            return None
        return f"'{text}'"
    return None


def _translate_term(term: str, names: V2Names) -> str | None:
    m = _TERM.fullmatch(term)
    if m is None:
        return None
    name = names.name(m.group("name"))
    if name is None or "." in name or name in META:
        return None
    op = m.group("op")
    if op is None:
        return ("!" if m.group("neg") else "") + name
    if m.group("neg") or op in ("~=", "!~="):
        return None
    split = _split_values(m.group("value"))
    if split is None:
        return None
    values, is_range = split
    if (is_range or len(values) > 1) and op not in ("==", "!="):
        return None
    literals = [_v2_literal(v) for v in values]
    if any(lit is None for lit in literals):
        return None
    return name + op + (".." if is_range else ",").join(literals)  # type: ignore[arg-type]


def translate_q(q: str, names: V2Names) -> tuple[list[str], bool]:
    """The v2 ``q`` statements for the top-level ``;`` terms of an NGSI-LD ``q`` that v2
    can evaluate with the same meaning, and whether that was every term. Forms left to
    the hub: ``|``, parentheses, sub-attribute and compound paths, patterns, URIs and
    bare terms as values, and names no v2 attribute can have."""
    terms = _split_top(q, ";")
    if terms is None:
        return [], False
    out = []
    for term in terms:
        translated = None if "(" in term else _translate_term(term, names)
        if translated is not None:
            out.append(translated)
    return out, len(out) == len(terms)


def _path_iris(token: str, names: V2Names) -> list[str]:
    """The attribute and sub-attribute IRIs of a ``q`` path whose head is an IRI.

    The engine renames only the head of a path (``hub.federation.qnames``), so
    ``https://…/temperature.accuracy`` is the attribute ``…/temperature`` and its
    sub-attribute ``accuracy``: dots after the IRI's last ``/``, ``#`` or ``:`` start
    sub-attribute names, which are named as this source names metadata (``names.iri``).
    A path given fully expanded (``IRI.IRI``) is split where a dot starts another IRI."""
    out: list[str] = []
    for i, segment in enumerate(_IRI_SEGMENT.split(token)):
        if not is_uri(segment):
            out.append(segment if i == 0 else names.iri(segment))
            continue
        cut = max(segment.rfind("/"), segment.rfind("#"), segment.rfind(":"))
        head, dot, rest = segment[cut + 1:].partition(".")
        out.append(segment[:cut + 1] + head)
        if dot:
            out.extend(names.iri(sub) for sub in rest.split("."))
    return out


def _placeholders(q: str, names: V2Names) -> tuple[str, dict[str, str]]:
    """``q`` with every IRI in a name position replaced by a short placeholder, so the
    hub's parser (which reads ``.`` as a path separator) can read it; and the map back."""
    out: list[str] = []
    mapping: dict[str, str] = {}
    i, expect_name, depth = 0, True, 0
    stop = set("=!<>~;|()[]\"' \t\r\n")
    while i < len(q):
        ch = q[i]
        if expect_name:
            if ch in "(! \t\r\n":
                out.append(ch)
                i += 1
                continue
            j = i
            while j < len(q) and q[j] not in stop:
                j += 1
            token = q[i:j]
            meta = None
            head, dot, tail = token.rpartition(".")
            if dot and tail in META:
                token, meta = head, tail
            parts = []
            for position, iri in enumerate(_path_iris(token, names)):
                if position == 0 and not is_uri(iri):
                    parts.append(iri)  # createdAt / modifiedAt: the entity's own, never IRIs
                    continue
                if iri not in mapping:
                    mapping[iri] = f"v2iri{len(mapping)}x"
                parts.append(mapping[iri])
            out.append(".".join(parts) + (f".{meta}" if meta else ""))
            i, expect_name, depth = j, False, 0
            continue
        if ch == '"':
            j = i + 1
            while j < len(q) and q[j] != '"':
                j += 2 if q[j] == "\\" else 1
            out.append(q[i:j + 1])
            i = j + 1
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(depth - 1, 0)
        elif ch in ";|" and depth == 0:
            expect_name = True
        out.append(ch)
        i += 1
    return "".join(out), {v: k for k, v in mapping.items()}


def local_q(q: str, names: V2Names) -> tuple[QExpr, Callable[[str], str]]:
    """Parse an NGSI-LD ``q`` whose names are IRIs with the hub's own parser, for
    ``evaluate_q``; raises ``NgsiLdError`` for a ``q`` the parser refuses."""
    text, back = _placeholders(q, names)
    expr = parse_q(text)
    return expr, lambda name: back.get(name, name)


# -- query plan ----------------------------------------------------------------------------


@dataclass(slots=True)
class QPlan:
    """How to ask a v2 source for one ``SourceQuery``.

    ``params`` are the v2 query parameters (without ``limit``/``offset``/``options``).
    ``empty``: nothing at the source can match (no v2 name for any asked type or
    attribute), so nothing is asked. ``scan``: v2 cannot express the whole query, so the
    candidates ``params`` select are all fetched and ``keep`` decides on each translated
    entity; otherwise v2 answers the page and the count itself.
    """

    params: dict[str, str]
    scan: bool
    empty: bool = False
    ids: frozenset[str] = frozenset()
    id_pattern: LinearPattern | None = None
    attrs: tuple[str, ...] = ()
    q: QExpr | None = None
    expand: Callable[[str], str] | None = None

    def keep(self, entity: dict[str, Any]) -> bool:
        """Whether a translated entity matches what v2 could not check."""
        if self.ids and entity["id"] not in self.ids:
            return False
        if self.id_pattern is not None and not self.id_pattern.search(entity["id"]):
            return False
        if self.attrs and not any(a in entity for a in self.attrs):
            return False
        if self.q is not None and self.expand is not None:
            return evaluate_q(self.q, _stored(entity), self.expand)
        return True


def _stored(entity: dict[str, Any]) -> dict[str, Any]:
    """The stored shape ``evaluate_q`` reads: instances as lists under ``attrs``."""
    attrs = {k: v if isinstance(v, list) else [v]
             for k, v in entity.items() if k not in ("id", "type")}
    return {"id": entity["id"], "types": entity["type"], "attrs": attrs}


def plan_query(*, types: Iterable[str], ids: Iterable[str], id_pattern: str | None,
               attrs: Iterable[str], q: str | None, names: V2Names) -> QPlan:
    """Decide what to send to the v2 source and what to check here (see ``QPlan``).

    Raises ``ValueError`` for an ``idPattern`` RE2 refuses and ``NgsiLdError`` for a ``q``
    the hub's parser refuses (both are checked by the hub before a query fans out)."""
    params: dict[str, str] = {}
    type_iris = tuple(types)
    if type_iris:
        v2_types = sorted({n for t in type_iris if (n := names.name(t)) is not None})
        if not v2_types:
            return QPlan(params, scan=False, empty=True)
        params["type"] = ",".join(v2_types)
    wanted_ids = frozenset(ids)
    if wanted_ids:
        candidates = sorted({c for i in wanted_ids for c, _ in v2_id_candidates(i)})
        if not candidates:
            return QPlan(params, scan=False, empty=True)
        params["id"] = ",".join(candidates)
    attr_iris = tuple(attrs)
    v2_attrs = sorted({n for a in attr_iris if (n := names.name(a)) is not None})
    if attr_iris and not v2_attrs:
        return QPlan(params, scan=False, empty=True)
    # one attribute: v2's unary statement says "has it"; several need an "or" v2 lacks
    statements = v2_attrs[:1] if len(v2_attrs) == 1 else []
    complete = True
    if q is not None:
        pushed, complete = translate_q(q, names)
        statements.extend(pushed)
    scan = bool(wanted_ids) or id_pattern is not None or len(v2_attrs) > 1 or not complete
    if statements:
        params["q"] = ";".join(statements)
    plan = QPlan(params, scan=scan, ids=wanted_ids, attrs=attr_iris if scan else ())
    if not scan and v2_attrs:
        params["attrs"] = ",".join(v2_attrs)
    if id_pattern is not None:
        try:
            plan.id_pattern = compile_linear(id_pattern)
        except PatternError as exc:
            raise ValueError(f"idPattern {id_pattern!r}: {exc}") from None
    if scan and q is not None:
        plan.q, plan.expand = local_q(q, names)
    return plan

