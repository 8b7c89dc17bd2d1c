"""Which triggers a change fires and what the notification shows: pure, no database."""

from __future__ import annotations

from typing import Any

import pytest

from hub.errors import BadRequestData
from hub.jsonld.process import core_active_context
from hub.subscriptions.matching import Change, match, render_options
from hub.subscriptions.model import parse_subscription, render_subscription
from hub.subscriptions.payloads import NULL_URI, notification_entity

CTX = core_active_context()
V = "https://uri.etsi.org/ngsi-ld/default-context/"
T = V + "Gauge"


def prop(value: Any, ds: str | None = None) -> dict[str, Any]:
    inst: dict[str, Any] = {"type": "Property", "value": value}
    if ds:
        inst["datasetId"] = ds
    return inst


def entity(**attrs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": "urn:ngsi-ld:Gauge:1", "types": [T], "scopes": None,
            "attrs": {V + k: v for k, v in attrs.items()},
            "createdAt": "2026-12-01T00:00:00.000000Z",
            "modifiedAt": "2026-12-01T00:00:01.000000Z"}


def sub(**extra: Any) -> dict[str, Any]:
    body = {"type": "Subscription", "id": "urn:ngsi-ld:Subscription:x",
            "entities": [{"type": "Gauge"}],
            "notification": {"endpoint": {"uri": "http://127.0.0.1:9/n"}}}
    body.update(extra)
    return parse_subscription(body, CTX, None)


def change(op: str, before: dict | None, after: dict | None) -> Change:
    return Change("urn:ngsi-ld:Gauge:1", op, before, after, "2026-12-01T00:00:02.000000Z")


def shown(s: dict[str, Any], c: Change) -> dict[str, Any]:
    fired = match(s, c, CTX)
    assert fired is not None
    return notification_entity(s, c, fired, CTX, render_options(s))


def test_default_triggers_fire_on_create_and_update_not_on_delete() -> None:
    s = sub()
    assert match(s, change("c", None, entity(rain=[prop(1)])), CTX).trigger == "attributeCreated"
    upd = change("u", entity(rain=[prop(1)]), entity(rain=[prop(2)]))
    assert match(s, upd, CTX).trigger == "attributeUpdated"
    assert match(s, change("d", entity(rain=[prop(1)]), None), CTX) is None


def test_watched_attributes_and_q_restrict() -> None:
    s = sub(watchedAttributes=["rain"], q="rain>30")
    assert match(s, change("u", entity(rain=[prop(10)], t=[prop(1)]),
                           entity(rain=[prop(10)], t=[prop(2)])), CTX) is None
    assert match(s, change("u", entity(rain=[prop(10)]), entity(rain=[prop(20)])), CTX) is None
    assert match(s, change("u", entity(rain=[prop(10)]), entity(rain=[prop(40)])), CTX)


def test_show_changes_marks_only_updated_attributes() -> None:
    s = sub(notification={"endpoint": {"uri": "http://x/y"}, "showChanges": True})
    out = shown(s, change("u", entity(rain=[prop(1)], t=[prop(5)]),
                          entity(rain=[prop(2)], t=[prop(5)])))
    assert out["rain"] == {"type": "Property", "value": 2, "previousValue": 1}
    assert "previousValue" not in out["t"]


def test_deleted_instance_is_shown_as_null_next_to_the_rest() -> None:
    s = sub(notificationTrigger=["attributeDeleted"])
    before = entity(name=[prop("a"), prop("b", "urn:ds:fr")])
    out = shown(s, change("u", before, entity(name=[prop("a")])))
    assert out["name"] == [{"type": "Property", "value": "a"},
                           {"type": "Property", "value": NULL_URI, "datasetId": "urn:ds:fr"}]
    kv = sub(notificationTrigger=["attributeDeleted"],
             notification={"endpoint": {"uri": "http://x/y"}, "format": "keyValues"})
    assert shown(kv, change("u", before, entity(name=[prop("a")])))["name"] == {
        "dataset": {"@none": "a", "urn:ds:fr": NULL_URI}}


def test_deleted_entity_shapes() -> None:
    before = entity(name=[prop("a")], rain=[prop(3)])
    plain = shown(sub(notificationTrigger=["entityDeleted"]), change("d", before, None))
    assert set(plain) == {"id", "type", "deletedAt"}
    watched = sub(notificationTrigger=["attributeDeleted"], watchedAttributes=["name"])
    out = shown(watched, change("d", before, None))
    assert out["name"] == {"type": "Property", "value": NULL_URI} and "rain" not in out
    changes = sub(notificationTrigger=["entityDeleted"],
                  notification={"endpoint": {"uri": "http://x/y"}, "showChanges": True})
    out = shown(changes, change("d", before, None))
    assert out["rain"] == {"type": "Property", "value": NULL_URI, "previousValue": 3}


def test_type_expression_selects() -> None:
    s = sub(entities=[{"type": "(Gauge|Tower)"}], notificationTrigger=["entityCreated"])
    assert match(s, change("c", None, entity(rain=[prop(1)])), CTX)
    other = {**entity(rain=[prop(1)]), "types": [V + "Vehicle"]}
    assert match(s, change("c", None, other), CTX) is None


def test_render_echoes_only_what_was_sent() -> None:
    s = sub()
    status = {"status": "active", "createdAt": "x", "modifiedAt": "y",
              "notification": {"timesSent": 0, "status": None}}
    out = render_subscription(s, status, CTX)
    assert out["notification"] == {"endpoint": {"uri": "http://127.0.0.1:9/n"}}
    assert "isActive" not in out and out["status"] == "active"


@pytest.mark.parametrize("bad", [
    {"notification": {"endpoint": {"uri": "http://x/y"}, "pick": ["id"], "omit": ["id"]}},
    {"q": "rain>>1"}, {"scopeQ": "/a/("}, {"datasetId": ["not a uri"]},
])
def test_rejected(bad: dict[str, Any]) -> None:
    with pytest.raises(BadRequestData):
        sub(**bad)


def test_geo_q_matches_within_distance() -> None:
    s = sub(geoQ={"georel": "near;maxDistance==2000", "geometry": "Point",
                  "coordinates": [138.19, 36.65]})
    here = entity(rain=[prop(1)])
    here["attrs"]["https://uri.etsi.org/ngsi-ld/location"] = [
        {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [138.195, 36.65]}}]
    far = entity(rain=[prop(1)])
    far["attrs"]["https://uri.etsi.org/ngsi-ld/location"] = [
        {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [138.5, 36.65]}}]
    for _ in range(2):  # the second time from the parsed-query cache
        assert match(s, change("c", None, here), CTX)
        assert match(s, change("c", None, far), CTX) is None
