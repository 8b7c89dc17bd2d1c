"""The CSourceRegistration data type (GS CIM 009 V1.9.1 5.2.9, RegistrationInfo 5.2.10,
EntityInfo 5.2.8, TimeInterval 5.2.11): validation, stored form, rendering, matching.

Pure: no I/O. ``parse_registration`` validates a whole registration once, when it is
created (or after a PATCH merged into it, ``merge_registration``), and returns the *stored
form*: the JSON the client sent, with every entity ``type``, ``propertyNames`` and
``relationshipNames`` member of ``information`` and every additional registration property
name expanded to an IRI with the request's @context; everything else (``endpoint``,
``mode``, ``operations``, ``contextSourceInfo``, ``tenant``, ``scope``, ``location``,
timestamps …) kept as sent. The distributed operations (hub/federation/forward*.py) read
this form; ``render_registration`` compacts it for a client.

Secrets: ``contextSourceInfo`` pairs are sent as headers to the source, so a registration
may carry the credentials the hub calls it with. They are write-only: the value of every
pair whose key is ``Authorization`` or ends in ``-Key``, ``-Token`` or ``-Secret`` is
rendered ``***`` to everyone, owner included, in answers and notifications alike; a PATCH
that sends ``***`` back for such a key keeps the stored value.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hub.errors import BadRequestData, InvalidRequest
from hub.jsonld.active import ActiveContext
from hub.ngsild.checks import is_datetime, is_uri, valid_attr_name
from hub.query.geo import GeoQuery, validate_geojson
from hub.query.linear_regex import check_id_pattern, id_pattern_matcher
from hub.query.qlang import QExpr
from hub.query.qlang_eval import evaluate_q
from hub.query.scopeq import ScopeExpr, evaluate_scope_q

__all__ = ["MASK", "MODES", "TemporalFilter", "entity_conflict", "is_secret_key",
           "matches_query", "merge_registration", "parse_registration",
           "registered_ids", "registration_conflict", "registration_entities",
           "render_registration", "stored_expiry"]

TYPE = "ContextSourceRegistration"
CORE_NS = "https://uri.etsi.org/ngsi-ld/"
MODES = ("inclusive", "exclusive", "redirect", "auxiliary")
MASK = "***"

#: members of the data type whose names are core terms; any other member is an additional
#: registration property (5.2.9: "Context Source Registration properties"), name expanded
_CORE = frozenset({
    "id", "type", "registrationName", "description", "information", "tenant",
    "observationInterval", "managementInterval", "location", "observationSpace",
    "operationSpace", "expiresAt", "endpoint", "contextSourceInfo", "scope", "mode",
    "operations", "refreshRate", "management",
})
#: members the broker maintains: ignored when a client sends them (echoes of a GET)
_READ_ONLY = frozenset({"status", "timesSent", "timesFailed", "lastSuccess", "lastFailure",
                        "createdAt", "modifiedAt", "@context"})
_GEO = ("location", "observationSpace", "operationSpace")
_SECRET_SUFFIXES = ("-key", "-token", "-secret")


def _fail(detail: str) -> BadRequestData:
    return BadRequestData(detail)


def is_secret_key(key: str) -> bool:
    """A contextSourceInfo key whose value is a credential: never rendered."""
    k = key.lower()
    return k == "authorization" or k.endswith(_SECRET_SUFFIXES)


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _names(value: Any, member: str, ctx: ActiveContext) -> list[str]:
    if not isinstance(value, list) or not value or not all(
            isinstance(n, str) and n and valid_attr_name(n) for n in value):
        raise _fail(f"{member} must be a non-empty array of attribute names")
    return [ctx.expand(n) for n in value]


def _entity_info(item: Any, ctx: ActiveContext) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise _fail("information.entities items must be objects")
    unknown = set(item) - {"id", "idPattern", "type"}
    if unknown:
        raise _fail(f"unknown EntityInfo members {sorted(unknown)}")
    t = item.get("type")
    if not isinstance(t, str) or not t:
        raise _fail("each EntityInfo needs a type")
    out: dict[str, Any] = {"type": ctx.expand(t)}
    if "id" in item:
        if not is_uri(item["id"]):
            raise _fail(f"EntityInfo id {item['id']!r} is not a URI")
        out["id"] = item["id"]
    if "idPattern" in item:
        if not isinstance(item["idPattern"], str) or not item["idPattern"]:
            raise _fail("EntityInfo idPattern must be a non-empty string")
        out["idPattern"] = check_id_pattern(item["idPattern"])
    return out


def _information(value: Any, ctx: ActiveContext) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise _fail("information must be a non-empty array of RegistrationInfo")
    out = []
    for info in value:
        if not isinstance(info, dict) or not info:
            raise _fail("each RegistrationInfo must be a non-empty object")
        unknown = set(info) - {"entities", "propertyNames", "relationshipNames"}
        if unknown:
            raise _fail(f"unknown RegistrationInfo members {sorted(unknown)}")
        item: dict[str, Any] = {}
        if "entities" in info:
            ents = info["entities"]
            if not isinstance(ents, list) or not ents:
                raise _fail("information.entities must be a non-empty array")
            item["entities"] = [_entity_info(e, ctx) for e in ents]
        for key in ("propertyNames", "relationshipNames"):
            if key in info:
                item[key] = _names(info[key], f"information.{key}", ctx)
        out.append(item)
    return out


def _interval(value: Any, member: str) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) - {"startAt", "endAt"} or not value:
        raise _fail(f"{member} must be an object with startAt and/or endAt")
    for key in ("startAt", "endAt"):
        if key in value and not is_datetime(value[key]):
            raise _fail(f"{member}.{key} must be a DateTime")
    if "startAt" in value and "endAt" in value and \
            _instant(value["endAt"]) < _instant(value["startAt"]):
        raise _fail(f"{member}.endAt is before its startAt")
    return dict(value)


def _pairs(value: Any, member: str) -> list[dict[str, str]]:
    if not isinstance(value, list) or not all(
            isinstance(p, dict) and set(p) == {"key", "value"} and isinstance(p["key"], str)
            and p["key"] and isinstance(p["value"], str) for p in value):
        raise _fail(f"{member} must be an array of {{key, value}} string pairs")
    return [{"key": p["key"], "value": p["value"]} for p in value]


def _string_list(value: Any, member: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(
            isinstance(v, str) and v for v in value):
        raise _fail(f"{member} must be a non-empty array of strings")
    return list(value)


def _check_member(key: str, value: Any, ctx: ActiveContext) -> Any:
    """One member's stored form; BadRequestData when it is not of its type."""
    if key == "information":
        return _information(value, ctx)
    if key in ("registrationName", "description", "tenant", "refreshRate"):
        if not isinstance(value, str) or not value:
            raise _fail(f"{key} must be a non-empty string")
        return value
    if key in ("observationInterval", "managementInterval"):
        return _interval(value, key)
    if key in _GEO:
        try:
            validate_geojson(value)
        except (BadRequestData, InvalidRequest) as exc:
            raise _fail(f"{key} is not a GeoJSON geometry: {exc.detail}") from None
        return value
    if key == "expiresAt":
        if not is_datetime(value):
            raise _fail("expiresAt must be a DateTime")
        if _instant(value) <= datetime.now(UTC):
            raise _fail("expiresAt must be in the future")
        return value
    if key == "endpoint":
        if not is_uri(value) or value.split(":", 1)[0].lower() not in ("http", "https") \
                or "//" not in value:
            raise _fail("endpoint must be an absolute http(s) URI")
        return value
    if key == "contextSourceInfo":
        return _pairs(value, key)
    if key == "scope":
        scopes = [value] if isinstance(value, str) else value
        if not isinstance(scopes, list) or not scopes or not all(
                isinstance(s, str) and s.startswith("/") for s in scopes):
            raise _fail("scope must be a scope (/a/b) or an array of scopes")
        return value
    if key == "mode":
        if value not in MODES:
            raise _fail(f"mode must be one of {', '.join(MODES)}")
        return value
    if key == "operations":
        return _string_list(value, "operations")
    if key == "management":
        return _management(value)
    raise AssertionError(key)  # pragma: no cover - _CORE and this function agree


_DURATION = re.compile(
    r"P(?!$)(\d+(?:\.\d+)?Y)?(\d+(?:\.\d+)?M)?(\d+(?:\.\d+)?W)?(\d+(?:\.\d+)?D)?"
    r"(T(?=\d)(\d+(?:\.\d+)?H)?(\d+(?:\.\d+)?M)?(\d+(?:\.\d+)?S)?)?")
#: operations an auxiliary registration may offer (5.9.2.4): reads only
_AUXILIARY_OPS = frozenset({
    "retrieveOps", "retrieveEntity", "queryEntity", "queryBatch", "retrieveTemporal",
    "queryTemporal", "retrieveEntityTypes", "retrieveEntityTypeDetails",
    "retrieveEntityTypeInfo", "retrieveAttrTypes", "retrieveAttrTypeDetails",
    "retrieveAttrTypeInfo"})


def _management(value: Any) -> dict[str, Any]:
    """RegistrationManagementInfo (5.2.34): how the hub treats the source."""
    if not isinstance(value, dict):
        raise _fail("management must be an object")
    if "localOnly" in value and not isinstance(value["localOnly"], bool):
        raise _fail("management.localOnly must be a boolean")
    if "cacheDuration" in value and not (isinstance(value["cacheDuration"], str)
                                         and _DURATION.fullmatch(value["cacheDuration"])):
        raise _fail("management.cacheDuration must be an ISO 8601 duration")
    for key in ("timeout", "cooldown"):
        v = value.get(key, 1)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise _fail(f"management.{key} must be a number greater than 0")
    return dict(value)


def _check_whole(reg: dict[str, Any]) -> None:
    for key in ("information", "endpoint"):
        if key not in reg:
            raise _fail(f"{key} is mandatory")
    mode = reg.get("mode", "inclusive")
    if mode == "auxiliary" and set(reg.get("operations", [])) - _AUXILIARY_OPS:
        raise _fail("an auxiliary registration offers read operations only: "
                    f"{sorted(set(reg['operations']) - _AUXILIARY_OPS)} are not")
    for info in reg["information"]:
        if mode == "exclusive" and not ("propertyNames" in info or "relationshipNames" in info):
            raise _fail("an exclusive registration names the attributes it holds "
                        "(propertyNames or relationshipNames) in every information item")
        if mode in ("exclusive", "redirect") and "entities" not in info:
            raise _fail(f"a {mode} registration names its entities in every information "
                        "item")
        # 4.3.6.3: "An exclusive registration shall always relate to specific Attributes
        # found on a single Entity": an entity id, never an idPattern or a whole type
        # (some official ETSI tests register exclusive idPattern sources all the same:
        # docs/conformance.md, "Context sources")
        if mode == "exclusive" and any("id" not in e or "idPattern" in e
                                       for e in info["entities"]):
            raise _fail("an exclusive registration names entity ids, not an idPattern or "
                        "a whole type (4.3.6.3)")


def _apply(reg: dict[str, Any], body: dict[str, Any], ctx: ActiveContext) -> None:
    for key, value in body.items():
        if key in ("id", "type") or key in _READ_ONLY:
            continue
        if key in _CORE:
            reg[key] = _check_member(key, value, ctx)
        else:
            if not valid_attr_name(key) or key.startswith("@"):
                raise _fail(f"invalid registration property name {key!r}")
            if value is None:
                raise _fail(f"registration property {key} cannot be null")
            reg[ctx.expand(key)] = value


def parse_registration(body: Any, ctx: ActiveContext, *, generate_id: bool = True
                       ) -> dict[str, Any]:
    """Validate a whole registration (create); returns the stored form."""
    if not isinstance(body, dict):
        raise _fail("a context source registration must be a JSON object")
    if body.get("type") != TYPE:
        raise _fail(f"type must be {TYPE}")
    reg_id = body.get("id")
    if reg_id is None and generate_id:
        reg_id = f"urn:ngsi-ld:ContextSourceRegistration:{uuid.uuid4()}"
    if not is_uri(reg_id):
        raise _fail(f"id {reg_id!r} is not a URI")
    reg: dict[str, Any] = {"id": reg_id, "type": TYPE}
    _apply(reg, body, ctx)
    _check_whole(reg)
    return reg


def merge_registration(stored: dict[str, Any], patch: Any, ctx: ActiveContext
                       ) -> dict[str, Any]:
    """5.9.3: each member of ``patch`` replaces the stored one, ``null`` removes an optional
    member; the merged registration must still be valid. ``id`` and ``type`` cannot change;
    a secret ``contextSourceInfo`` value sent back as ``***`` keeps the stored one."""
    if not isinstance(patch, dict) or not patch:
        raise _fail("a registration update must be a non-empty JSON object")
    if "type" in patch and patch["type"] != TYPE:
        raise _fail(f"type must be {TYPE}")
    if "id" in patch and patch["id"] != stored["id"]:
        raise _fail("the id of a registration cannot be changed")
    reg = dict(stored)
    members = {k: v for k, v in patch.items() if k not in ("id", "type") and
               k not in _READ_ONLY}
    for key, value in list(members.items()):
        if value is None:
            if key in ("information", "endpoint"):
                raise _fail(f"{key} is mandatory and cannot be removed")
            reg.pop(key if key in _CORE else ctx.expand(key), None)
            del members[key]
    if isinstance(members.get("contextSourceInfo"), list):
        kept = {p["key"]: p["value"] for p in stored.get("contextSourceInfo", [])}
        members["contextSourceInfo"] = [
            {**p, "value": kept[p["key"]]} if isinstance(p, dict) and p.get("value") == MASK
            and p.get("key") in kept and is_secret_key(str(p.get("key"))) else p
            for p in members["contextSourceInfo"]]
    _apply(reg, members, ctx)
    _check_whole(reg)
    return reg


def stored_expiry(reg: dict[str, Any]) -> datetime | None:
    return _instant(reg["expiresAt"]) if "expiresAt" in reg else None


def render_registration(reg: dict[str, Any], ctx: ActiveContext, *,
                        created_at: datetime | None = None,
                        modified_at: datetime | None = None) -> dict[str, Any]:
    """The registration as a client sees it: names compacted with ``ctx``, secrets
    masked; ``createdAt``/``modifiedAt`` when given (``options=sysAttrs``)."""
    out: dict[str, Any] = {}
    for key, value in reg.items():
        if key == "information":
            out[key] = [_render_info(i, ctx) for i in value]
        elif key == "contextSourceInfo":
            out[key] = [{"key": p["key"], "value": MASK if is_secret_key(p["key"])
                         else p["value"]} for p in value]
        elif key in _CORE:
            out[key] = value
        else:
            out[ctx.compact(key)] = value
    if created_at is not None:
        out["createdAt"] = _iso(created_at)
    if modified_at is not None:
        out["modifiedAt"] = _iso(modified_at)
    return out


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _render_info(info: dict[str, Any], ctx: ActiveContext) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "entities" in info:
        out["entities"] = [{**e, "type": ctx.compact(e["type"])} for e in info["entities"]]
    for key in ("propertyNames", "relationshipNames"):
        if key in info:
            out[key] = [ctx.compact(n) for n in info[key]]
    return out


def registration_entities(reg: dict[str, Any]) -> list[dict[str, Any]]:
    """Every EntityInfo of the registration (expanded types)."""
    return [e for info in reg.get("information", []) for e in info.get("entities", [])]


# -- matching (discovery 5.10 and registration subscriptions 5.11) ----------------------

class TemporalFilter:
    """``timerel``/``timeAt``/``endTimeAt`` over ``observationInterval`` (timeproperty
    ``observedAt``, the default) or ``managementInterval`` (``createdAt``/``modifiedAt``):
    a registration matches when its interval overlaps the asked time range; one without
    that interval does not match."""

    def __init__(self, timerel: str, time_at: str, end_time_at: str | None,
                 timeproperty: str | None) -> None:
        if timerel not in ("before", "after", "between"):
            raise _fail("timerel must be before, after or between")
        if not is_datetime(time_at):
            raise _fail("timeAt must be a DateTime")
        if timerel == "between" and not is_datetime(end_time_at):
            raise _fail("timerel=between needs endTimeAt")
        prop = timeproperty or "observedAt"
        if prop not in ("observedAt", "createdAt", "modifiedAt"):
            raise _fail("timeproperty must be observedAt, createdAt or modifiedAt")
        self.rel = timerel
        self.at = _instant(time_at)
        self.end = _instant(end_time_at) if end_time_at else None
        self.member = "observationInterval" if prop == "observedAt" else "managementInterval"

    def matches(self, reg: dict[str, Any]) -> bool:
        interval = reg.get(self.member)
        if not isinstance(interval, dict):
            return False
        start = _instant(interval["startAt"]) if "startAt" in interval else None
        end = _instant(interval["endAt"]) if "endAt" in interval else None
        if self.rel == "before":
            return start is None or start < self.at
        if self.rel == "after":
            return end is None or end > self.at
        assert self.end is not None
        return (start is None or start < self.end) and (end is None or end > self.at)


def _entity_matches(sel: dict[str, Any], ent: dict[str, Any]) -> bool:
    """Could ``ent`` (an EntityInfo) stand for entities ``sel`` selects? Types must agree;
    ids and patterns narrow only when both sides can be compared."""
    types = sel.get("types")
    if types is not None and ent["type"] not in types:
        return False
    ids = sel.get("ids")
    if ids is not None and "id" in ent and ent["id"] not in ids:
        return False
    if ids is not None and "idPattern" in ent:  # the source's pattern must cover one
        own = id_pattern_matcher(ent["idPattern"])
        if own is None or not any(own.search(i) for i in ids):
            return False
    id_pattern = sel.get("idPattern")
    if id_pattern is None or "id" not in ent:
        return True
    matcher = id_pattern_matcher(id_pattern)
    return matcher is not None and matcher.search(ent["id"]) is not None


def _properties(reg: dict[str, Any]) -> dict[str, Any]:
    """The registration's members as a stored entity's attrs, for ``q`` and ``csf``
    (5.10.2.4: matched against the Context Source Properties): each a Property whose value
    is the member's value, core members under their core IRI, additional ones under
    their stored (expanded) name."""
    return {(CORE_NS + k if k in _CORE else k): [{"type": "Property", "value": v}]
            for k, v in reg.items() if k not in ("id", "type", "information")}


def matches_query(
    reg: dict[str, Any], *, selectors: list[dict[str, Any]] | None, attrs: set[str] | None,
    q: QExpr | None = None, csf: QExpr | None = None, expand: Callable[[str], str],
    geo: GeoQuery | None = None, temporal: TemporalFilter | None = None,
    scope_q: ScopeExpr | None = None,
) -> bool:
    """Whether a registration matches a discovery query or a registration subscription.

    ``selectors``: ``{"types": set|None, "ids": set|None, "idPattern": str|None}`` each,
    any of which may match (None: no entity condition); ``attrs``: expanded attribute
    names one of which an information item must name (an item naming none holds all).
    An information item without entities holds entities of any type."""
    if selectors is not None or attrs is not None:
        found = False
        for info in reg.get("information", []):
            ents = info.get("entities")
            if selectors is not None and ents is not None and not any(
                    _entity_matches(s, e) for s in selectors for e in ents):
                continue
            if attrs is not None:
                named = set(info.get("propertyNames", [])) | set(
                    info.get("relationshipNames", []))
                if named and not (named & attrs):
                    continue
            found = True
            break
        if not found:
            return False
    stub = {"id": reg.get("id"), "types": [TYPE], "attrs": _properties(reg)}
    if q is not None and not evaluate_q(q, stub, expand):
        return False
    if csf is not None and not evaluate_q(csf, stub, expand):
        return False
    if scope_q is not None:
        scope = reg.get("scope")
        if not evaluate_scope_q(scope_q, [scope] if isinstance(scope, str) else scope):
            return False
    if geo is not None:
        member = geo.geoproperty or "location"
        if member not in _GEO or not geo.matches(reg.get(member)):
            return False
    return temporal is None or temporal.matches(reg)


# -- proxied registrations (4.3.6.3, 5.9.2.4) -----------------------------------------------

def _claims(reg: dict[str, Any]) -> list[tuple[str, set[str] | None]]:
    """(entity id, attribute names or None for all) each information item claims."""
    out: list[tuple[str, set[str] | None]] = []
    for info in reg.get("information", []):
        names = set(info.get("propertyNames", [])) | set(info.get("relationshipNames", []))
        out.extend((e["id"], names or None) for e in info.get("entities", []) if "id" in e)
    return out


def registration_conflict(reg: dict[str, Any], others: list[dict[str, Any]]) -> str | None:
    """Why a proxied (exclusive or redirect) registration may not exist beside the
    exclusive ones in ``others`` (4.3.6.3: once an exclusive registration exists, no
    further exclusive or redirect registration for the same entity id and attributes);
    None when it may."""
    if reg.get("mode") not in ("exclusive", "redirect"):
        return None
    mine = _claims(reg)
    for other in others:
        if other["id"] == reg["id"] or other.get("mode") != "exclusive":
            continue
        for eid, names in mine:
            for oid, onames in _claims(other):
                if eid == oid and (names is None or onames is None or names & onames):
                    return (f"Conflict: registration {other['id']} already holds {eid} "
                            "exclusively")
    return None


def entity_conflict(reg: dict[str, Any], entities: dict[str, dict[str, Any]]) -> str | None:
    """5.9.2.4: an exclusive registration conflicts with an existing entity of a registered
    id that carries a registered attribute; a redirect one with any existing entity it
    matches. ``entities``: the stored entities of the registration's ids that exist."""
    mode = reg.get("mode")
    if mode not in ("exclusive", "redirect"):
        return None
    for info in reg.get("information", []):
        names = set(info.get("propertyNames", [])) | set(info.get("relationshipNames", []))
        for ent in info.get("entities", []):
            stored = entities.get(ent.get("id", ""))
            if stored is None or ent["type"] not in stored.get("types", []):
                continue
            if mode == "redirect" or not names or names & set(stored.get("attrs", {})):
                return f"Conflict: entity {ent['id']} already exists here"
    return None


def registered_ids(reg: dict[str, Any]) -> list[str]:
    return sorted({eid for eid, _ in _claims(reg)})
