"""The Subscription data type (GS CIM 009 5.2.12, NotificationParams 5.2.14, Endpoint 5.2.15).

``parse_subscription`` validates a client payload once, at create or update time, and turns it
into the *stored form*: a plain JSON dict whose type names and attribute names are expanded
IRIs, plus the client's ``@context`` so ``q`` can be expanded the same way later. Everything
that can be wrong is found here, so the matcher never fails on a stored subscription.
``render_subscription`` compacts the stored form against a requester's context.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from hub.errors import BadRequestData, InvalidRequest
from hub.jsonld.active import ActiveContext
from hub.ngsild.checks import is_datetime, is_uri, valid_attr_name
from hub.query.geo import parse_geo_query
from hub.query.qlang import parse_q
from hub.query.scopeq import parse_scope_q
from hub.query.typeexpr import TypeAnd, TypeExpr, TypeName, TypeOr, parse_types_expr
from hub.service.selection import check_id_pattern

__all__ = [
    "DEFAULT_TRIGGERS",
    "FORMATS",
    "TRIGGERS",
    "expires",
    "parse_subscription",
    "prefilter_ids",
    "prefilter_types",
    "q_text",
    "render_subscription",
]

TRIGGERS = frozenset({
    "entityCreated", "entityUpdated", "entityDeleted",
    "attributeCreated", "attributeUpdated", "attributeDeleted",
})
DEFAULT_TRIGGERS = ["attributeCreated", "attributeUpdated"]
FORMATS = frozenset({"normalized", "keyValues", "simplified", "concise"})
_ACCEPTS = frozenset({"application/json", "application/ld+json", "application/geo+json"})
_TOP = frozenset({
    "id", "type", "subscriptionName", "description", "entities", "watchedAttributes",
    "notificationTrigger", "timeInterval", "q", "geoQ", "csf", "isActive", "notification",
    "expiresAt", "throttling", "temporalQ", "scopeQ", "lang", "jsonldContext", "@context",
    "status", "createdAt", "modifiedAt", "expires", "datasetId",
    "name",  # GS CIM 009 V1.3's spelling of subscriptionName, accepted as Orion-LD does
})
_NOTIFICATION = frozenset({
    "attributes", "sysAttrs", "format", "showChanges", "endpoint", "pick", "omit", "join",
    "joinLevel", "status", "timesSent", "timesFailed", "lastNotification", "lastFailure",
    "lastSuccess",
})
_NOTIFICATION_STATUS = frozenset({"status", "timesSent", "timesFailed", "lastNotification",
                                  "lastFailure", "lastSuccess"})


def _fail(message: str) -> BadRequestData:
    return BadRequestData(f"subscription: {message}")


def _string_list(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _fail(f"{name} must be a non-empty array of strings")
    return value


def _attr_names(value: Any, name: str, ctx: ActiveContext) -> list[str]:
    names = _string_list(value, name)
    for n in names:
        if not valid_attr_name(n):
            raise _fail(f"{name} holds an invalid attribute name {n!r}")
    return [ctx.expand(n) for n in names]


def _type_names(expr: TypeExpr) -> list[str]:
    if isinstance(expr, TypeName):
        return [expr.name]
    assert isinstance(expr, (TypeAnd, TypeOr))
    return [n for item in expr.items for n in _type_names(item)]


def _selector(item: Any, ctx: ActiveContext) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise _fail("entities items must be objects")
    unknown = set(item) - {"id", "idPattern", "type"}
    if unknown:
        raise _fail(f"unknown EntitySelector members {sorted(unknown)}")
    out: dict[str, Any] = {}
    if "type" not in item or not isinstance(item["type"], str) or not item["type"]:
        raise _fail("each EntitySelector needs a type")
    expr = parse_types_expr(item["type"])
    if isinstance(expr, TypeName):
        out["type"] = ctx.expand(expr.name)
    else:  # a type expression (4.17): kept as text, expanded with the stored @context
        out["typeExpr"] = item["type"]
        out["typeNames"] = [ctx.expand(n) for n in _type_names(expr)]
    if "id" in item:
        if not is_uri(item["id"]):
            raise _fail(f"EntitySelector id {item['id']!r} is not a URI")
        out["id"] = item["id"]
    if "idPattern" in item:
        if not isinstance(item["idPattern"], str):
            raise _fail("EntitySelector idPattern must be a string")
        out["idPattern"] = check_id_pattern(item["idPattern"])
    return out


def _positive_number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise _fail(f"{name} must be a number greater than 0")
    return value


def _endpoint(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail("notification.endpoint must be an object")
    uri = value.get("uri")
    if not is_uri(uri):
        raise _fail("notification.endpoint.uri must be a URI")
    assert isinstance(uri, str)
    scheme = uri.split(":", 1)[0].lower()
    if scheme not in ("http", "https", "mqtt", "mqtts"):
        raise _fail(f"notification.endpoint.uri scheme {scheme!r} is not supported")
    if "//" not in uri:
        raise _fail("notification.endpoint.uri needs a host")
    out: dict[str, Any] = {"uri": uri}
    accept = value.get("accept")
    if accept is not None:
        if accept not in _ACCEPTS:
            raise _fail(f"notification.endpoint.accept {accept!r} is not supported")
        out["accept"] = accept
    for key in ("receiverInfo", "notifierInfo"):
        if key in value:
            pairs = value[key]
            if not isinstance(pairs, list) or not all(
                isinstance(p, dict) and isinstance(p.get("key"), str)
                and isinstance(p.get("value"), str) for p in pairs
            ):
                raise _fail(f"notification.endpoint.{key} must be an array of key/value pairs")
            out[key] = [{"key": p["key"], "value": p["value"]} for p in pairs]
    for pair in out.get("notifierInfo", []):
        # at least once (1) unless 0 (at most once) or 2 is asked for: senders.mqtt_qos
        if pair["key"] == "MQTT-QoS" and pair["value"] not in ("0", "1", "2"):
            raise _fail("notifierInfo MQTT-QoS must be \"0\", \"1\" or \"2\"")
    if "timeout" in value:
        out["timeout"] = _positive_number(value["timeout"], "notification.endpoint.timeout")
    if "cooldown" in value:
        out["cooldown"] = _positive_number(value["cooldown"], "notification.endpoint.cooldown")
    return out


def _projection_names(value: Any, name: str) -> list[str]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",")]
    return _string_list(value, name)


def _notification(value: Any, ctx: ActiveContext) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail("notification must be an object")
    unknown = set(value) - _NOTIFICATION
    if unknown:
        raise _fail(f"unknown notification members {sorted(unknown)}")
    if "endpoint" not in value:
        raise _fail("notification.endpoint is mandatory")
    out: dict[str, Any] = {"endpoint": _endpoint(value["endpoint"])}
    if "format" in value:
        if value["format"] not in FORMATS:
            raise _fail(f"notification.format {value['format']!r} is not supported")
        out["format"] = value["format"]  # echoed as given; "simplified" means keyValues
    if "attributes" in value:
        out["attributes"] = _attr_names(value["attributes"], "notification.attributes", ctx)
    for key in ("pick", "omit"):
        if key in value:
            if "attributes" in value:
                raise _fail(f"notification.{key} cannot be combined with attributes")
            out[key] = [n if n in ("id", "type") else ctx.expand(n)
                        for n in _projection_names(value[key], "notification." + key)]
    if "pick" in out and "omit" in out and set(out["pick"]) & set(out["omit"]):
        raise _fail("the same member cannot be in notification.pick and notification.omit")
    for key in ("sysAttrs", "showChanges"):
        if key in value:
            if not isinstance(value[key], bool):
                raise _fail(f"notification.{key} must be a boolean")
            out[key] = value[key]
    if "join" in value:
        if value["join"] not in ("inline", "flat", "@none"):
            raise _fail("notification.join must be inline, flat or @none")
        out["join"] = value["join"]
    if "joinLevel" in value:
        level = value["joinLevel"]
        if isinstance(level, bool) or not isinstance(level, int) or level < 1:
            raise _fail("notification.joinLevel must be a positive integer")
        out["joinLevel"] = level
    return out


def _check_datetime(value: Any, name: str) -> str:
    if not is_datetime(value):
        raise _fail(f"{name} must be a DateTime")
    assert isinstance(value, str)
    return value


def parse_subscription(
    body: dict[str, Any], ctx: ActiveContext, raw_context: Any, *, generate_id: bool = True
) -> dict[str, Any]:
    """Validate a whole Subscription (create); returns the stored form."""
    unknown = set(body) - _TOP
    if unknown:
        raise _fail(f"unknown members {sorted(unknown)}")
    if body.get("type") != "Subscription":
        raise _fail("type must be Subscription")
    sub_id = body.get("id")
    if sub_id is None and generate_id:
        sub_id = f"urn:ngsi-ld:Subscription:{uuid.uuid4()}"
    if not is_uri(sub_id):
        raise _fail(f"id {sub_id!r} is not a URI")
    sub: dict[str, Any] = {"id": sub_id, "type": "Subscription", "context": raw_context}
    apply_members(sub, body, ctx, creating=True)
    return sub


def apply_members(
    sub: dict[str, Any], body: dict[str, Any], ctx: ActiveContext, *, creating: bool
) -> None:
    """Validate ``body``'s members and write them into ``sub`` (create, or update 5.8.2:
    each member given replaces the stored one; ``notification`` members merge)."""
    if "name" in body:  # the V1.3 spelling (docs/conformance.md, "Spellings accepted")
        if "subscriptionName" in body and body["subscriptionName"] != body["name"]:
            raise _fail("name and subscriptionName are the same member; give one")
        body = {**body, "subscriptionName": body["name"]}
    for key in ("subscriptionName", "description"):
        if key in body:
            if not isinstance(body[key], str):
                raise _fail(f"{key} must be a string")
            sub[key] = body[key]
    if "entities" in body:
        items = body["entities"]
        if not isinstance(items, list) or not items:
            raise _fail("entities must be a non-empty array")
        sub["entities"] = [_selector(i, ctx) for i in items]
    if "watchedAttributes" in body:
        sub["watchedAttributes"] = _attr_names(body["watchedAttributes"], "watchedAttributes",
                                               ctx)
    if "notificationTrigger" in body:
        triggers = _string_list(body["notificationTrigger"], "notificationTrigger")
        bad = [t for t in triggers if t not in TRIGGERS]
        if bad:
            raise _fail(f"unknown notificationTrigger values {bad}")
        sub["notificationTrigger"] = triggers
    if "timeInterval" in body:
        sub["timeInterval"] = _positive_number(body["timeInterval"], "timeInterval")
    if "throttling" in body:
        sub["throttling"] = _positive_number(body["throttling"], "throttling")
    if "q" in body:
        if not isinstance(body["q"], str):
            raise _fail("q must be a string")
        _as_bad_data(parse_q, q_text(body["q"]))
        sub["q"] = body["q"]
    if "scopeQ" in body:
        if not isinstance(body["scopeQ"], str):
            raise _fail("scopeQ must be a string")
        _as_bad_data(parse_scope_q, body["scopeQ"])
        sub["scopeQ"] = body["scopeQ"]
    if "geoQ" in body:
        sub["geoQ"] = _geo_q(body["geoQ"], ctx)
    if "isActive" in body:
        if not isinstance(body["isActive"], bool):
            raise _fail("isActive must be a boolean")
        sub["isActive"] = body["isActive"]
    if "expiresAt" in body or "expires" in body:
        key = "expiresAt" if "expiresAt" in body else "expires"
        sub["expiresAt"] = _check_datetime(body[key], key)
        if _instant(sub["expiresAt"]) <= datetime.now(UTC):
            raise _fail("expiresAt must be in the future")
    if "lang" in body:
        if not isinstance(body["lang"], str) or not body["lang"]:
            raise _fail("lang must be a non-empty string")
        sub["lang"] = body["lang"]
    if "jsonldContext" in body:
        if not is_uri(body["jsonldContext"]):
            raise _fail("jsonldContext must be a URI")
        sub["jsonldContext"] = body["jsonldContext"]
    if "datasetId" in body:
        ids = body["datasetId"]
        ids = [ids] if isinstance(ids, str) else ids
        if not isinstance(ids, list) or not ids or not all(
                i == "@none" or is_uri(i) for i in ids):
            raise _fail("datasetId must be a URI or an array of URIs")
        sub["datasetId"] = ids
    if "temporalQ" in body or "csf" in body:
        raise _fail("temporalQ and csf are not supported in subscriptions by this broker")
    if "notification" in body:  # replaces the stored member as a whole (5.8.2)
        given = body["notification"]
        if isinstance(given, dict):
            given = {k: v for k, v in given.items() if k not in _NOTIFICATION_STATUS}
        sub["notification"] = _notification(given, ctx)
    _check_whole(sub)


def _geo_q(value: Any, ctx: ActiveContext) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail("geoQ must be an object")
    coords = value.get("coordinates")
    parsed = parse_geo_query(value.get("georel"), value.get("geometry"),
                             coords if isinstance(coords, (str, list)) else None,
                             value.get("geoproperty"))
    if parsed is None:
        raise _fail("geoQ needs georel, geometry and coordinates")
    out = {"georel": value["georel"], "geometry": value["geometry"],
           "coordinates": parsed.geometry["coordinates"]}
    if value.get("geoproperty"):
        out["geoproperty"] = ctx.expand(value["geoproperty"])
    return out


def q_text(q: str) -> str:
    """The ``q`` to evaluate: clients percent-encode it in JSON bodies as in URLs."""
    return unquote(q) if "%" in q else q


def _as_bad_data(parse: Callable[[str], Any], text: str) -> None:
    """A query in a subscription body is request data: its syntax errors are BadRequestData."""
    try:
        parse(text)
    except InvalidRequest as exc:
        raise _fail(exc.detail) from None


def _check_whole(sub: dict[str, Any]) -> None:
    if "notification" not in sub:
        raise _fail("notification is mandatory")
    if "entities" not in sub and "watchedAttributes" not in sub:
        raise _fail("entities or watchedAttributes must be present")
    if "timeInterval" in sub and "watchedAttributes" in sub:
        raise _fail("timeInterval and watchedAttributes cannot be combined")
    if "timeInterval" in sub and "throttling" in sub:
        raise _fail("timeInterval and throttling cannot be combined")


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def expires(sub: dict[str, Any]) -> datetime | None:
    return _instant(sub["expiresAt"]) if "expiresAt" in sub else None


def prefilter_types(sub: dict[str, Any]) -> list[str] | None:
    """Type IRIs one of which a matching entity must have; None when any type can match."""
    if "entities" not in sub:
        return None
    names: list[str] = []
    for sel in sub["entities"]:
        names.extend([sel["type"]] if "type" in sel else sel.get("typeNames", []))
    return sorted(set(names))


def prefilter_ids(sub: dict[str, Any]) -> list[str] | None:
    """Entity ids one of which a matching entity must have; None when any id can match."""
    selectors = sub.get("entities")
    if not selectors or any("id" not in s for s in selectors):
        return None
    return sorted({s["id"] for s in selectors})


def render_subscription(
    sub: dict[str, Any], status: dict[str, Any], ctx: ActiveContext, *, sys_attrs: bool = False
) -> dict[str, Any]:
    """The Subscription as a client sees it, names compacted with ``ctx``."""
    out: dict[str, Any] = {"id": sub["id"], "type": "Subscription"}
    for key in ("subscriptionName", "description"):
        if key in sub:
            out[key] = sub[key]
    if "entities" in sub:
        out["entities"] = [_render_selector(s, ctx) for s in sub["entities"]]
    if "watchedAttributes" in sub:
        out["watchedAttributes"] = [ctx.compact(a) for a in sub["watchedAttributes"]]
    out["notificationTrigger"] = sub.get("notificationTrigger", DEFAULT_TRIGGERS)
    for key in ("timeInterval", "q", "scopeQ", "throttling", "expiresAt", "lang",
                "jsonldContext"):
        if key in sub:
            out[key] = sub[key]
    if "geoQ" in sub:
        geo = dict(sub["geoQ"])
        if "geoproperty" in geo:
            geo["geoproperty"] = ctx.compact(geo["geoproperty"])
        out["geoQ"] = geo
    if "isActive" in sub:
        out["isActive"] = sub["isActive"]
    if "datasetId" in sub:
        out["datasetId"] = sub["datasetId"]
    note = dict(sub["notification"])
    for key in ("attributes", "pick", "omit"):
        if key in note:
            note[key] = [a if a in ("id", "type") else ctx.compact(a) for a in note[key]]
    # counters and delivery status appear once there is something to report
    note.update({k: v for k, v in status["notification"].items() if v})
    out["notification"] = note
    out["status"] = status["status"]
    if sys_attrs:
        out["createdAt"] = status["createdAt"]
        out["modifiedAt"] = status["modifiedAt"]
    return out


def _render_selector(sel: dict[str, Any], ctx: ActiveContext) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "id" in sel:
        out["id"] = sel["id"]
    if "idPattern" in sel:
        out["idPattern"] = sel["idPattern"]
    out["type"] = ctx.compact(sel["type"]) if "type" in sel else sel["typeExpr"]
    return out
