"""Subscriptions are evaluated as their subscriber, never as the hub (issue #12, class 1).

Filters, watched attributes, joins, periodic selection and the delivery counters all see
only what the subscriber may read, so a subscription tells it nothing a GET would not.
Each test asserts what must not arrive after a positive control shows delivery works.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.integration.authz_world import BASE, JSON, World
from tests.integration.receiver import Receiver, receiver
from tests.security.conftest import world

__all__ = ["receiver", "world"]

S = BASE + "/subscriptions"
LATER = "2099-01-01T00:00:00Z"
RAIN = "https://uri.etsi.org/ngsi-ld/default-context/rain"
LOANS_ID = "urn:ngsi-ld:Loans:ueda-1"


async def _patch(w: World, who: str, eid: str, attrs: dict[str, Any]) -> None:
    resp = await w.http.patch(f"{BASE}/entities/{eid}/attrs", json=attrs,
                              headers=w.auth(who, **JSON))
    assert resp.status == 204, await resp.text()


async def _subscribe(w: World, who: str, body: dict[str, Any]) -> str:
    resp = await w.http.post(S, json={"type": "Subscription", **body},
                             headers=w.auth(who, **JSON))
    assert resp.status == 201, await resp.text()
    return str(resp.headers["Location"].rsplit("/", 1)[-1])


async def _rain_grant(w: World) -> None:
    await w.grant({"dataset": "nagano-rain", "actions": ["read", "subscribe"],
                   "purpose": "flood-app", "valid_from": "2026-01-01T00:00:00Z",
                   "valid_until": LATER, "attributes": [RAIN]}, "firm")
    await w.refresh()


def _prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


async def test_inline_join_does_not_leak_personal_data(world: World, receiver: Receiver) -> None:
    """A municipality's entity points at another's personal-data entity: the join shows
    nothing of it (the exploit of the last review: patron data inline)."""
    w = world  # these tests write legitimately; what must not arrive is asserted
    w.allow_receiver(receiver.port)
    await _patch(w, "nagano", "urn:ngsi-ld:Gauge:nagano-0",
                 {"borrowedBy": {"type": "Relationship", "object": LOANS_ID}})
    for join in ("inline", "flat"):
        await _subscribe(w, "nagano", {
            "entities": [{"type": "Gauge"}], "watchedAttributes": ["rain"],
            "notification": {"endpoint": {"uri": receiver.url(f"/{join}")},
                             "join": join, "joinLevel": 2}})
    await _patch(w, "nagano", "urn:ngsi-ld:Gauge:nagano-0", {"rain": _prop(7.0)})
    got = await receiver.wait_for(2)
    for note in got:
        text = str(note.body)
        assert "Gauge:nagano-0" in text  # positive control: the owner's entity arrives
        assert "count" not in text, f"personal data joined into a notification: {text}"
        ids = {e["id"] for e in note.body["data"]}
        assert LOANS_ID not in ids


async def test_filters_on_hidden_attributes_are_no_oracle(world: World, receiver: Receiver) -> None:
    """The firm may read only ``rain``: a q, a watched attribute or a trigger on
    ``battery`` never fires, whatever the hidden value; the status counters stay at 0."""
    w = world  # these tests write legitimately; what must not arrive is asserted
    w.allow_receiver(receiver.port)
    await _rain_grant(w)
    probes = {
        "q": {"entities": [{"type": "Gauge"}], "q": "battery>60"},
        "watched": {"entities": [{"type": "Gauge"}], "watchedAttributes": ["battery"]},
        "no-entities": {"watchedAttributes": ["battery"]},
    }
    ids = {}
    for name, body in probes.items():
        ids[name] = await _subscribe(w, "firm", {
            **body, "notification": {"endpoint": {"uri": receiver.url(f"/{name}")}}})
    control = await _subscribe(w, "firm", {
        "entities": [{"type": "Gauge"}], "watchedAttributes": ["rain"],
        "notification": {"endpoint": {"uri": receiver.url("/control")}}})

    await _patch(w, "nagano", "urn:ngsi-ld:Gauge:nagano-1", {"battery": _prop(90.0)})
    await _patch(w, "nagano", "urn:ngsi-ld:Gauge:nagano-2", {"rain": _prop(30.0)})
    [got] = await receiver.wait_for(1)
    assert got.path == "/control"  # positive control: the visible change arrives
    await asyncio.sleep(1.5)
    assert [r.path for r in receiver.received] == ["/control"], \
        "a hidden attribute decided whether a notification came"
    for sid in ids.values():
        body = await (await w.http.get(f"{S}/{sid}", headers=w.auth("firm"))).json()
        status = body.get("notification", {})
        assert status.get("timesSent", 0) == 0, body
        assert "lastNotification" not in status, body
    body = await (await w.http.get(f"{S}/{control}", headers=w.auth("firm"))).json()
    assert body["notification"]["timesSent"] == 1


async def test_subscription_without_entities_sees_only_granted(world: World,
                                                              receiver: Receiver) -> None:
    w = world  # these tests write legitimately; what must not arrive is asserted
    w.allow_receiver(receiver.port)
    await _rain_grant(w)
    await _subscribe(w, "firm", {"watchedAttributes": ["rain"],
                                 "notification": {"endpoint": {"uri": receiver.url()}}})
    await _patch(w, "ueda", "urn:ngsi-ld:Gauge:ueda-1", {"rain": _prop(11.0)})
    await _patch(w, "nagano", "urn:ngsi-ld:Gauge:nagano-1", {"rain": _prop(12.0),
                                                              "battery": _prop(1.0)})
    [got] = await receiver.wait_for(1)
    [entity] = got.body["data"]
    assert entity["id"] == "urn:ngsi-ld:Gauge:nagano-1"
    assert "battery" not in entity
    await asyncio.sleep(1.0)
    assert len(receiver.received) == 1, "an ungranted entity was notified"


async def test_periodic_selection_runs_with_subscriber_rights(world: World,
                                                              receiver: Receiver) -> None:
    w = world  # these tests write legitimately; what must not arrive is asserted
    w.allow_receiver(receiver.port)
    await _rain_grant(w)
    await _subscribe(w, "firm", {"entities": [{"type": "Gauge"}], "timeInterval": 1,
                                 "notification": {"endpoint": {"uri": receiver.url()}}})
    [got] = await receiver.wait_for(1)
    ids = {e["id"] for e in got.body["data"]}
    assert ids == {f"urn:ngsi-ld:Gauge:nagano-{n}" for n in range(3)}
    assert all("battery" not in e for e in got.body["data"])


async def test_hidden_only_update_is_no_change_for_the_subscriber(world: World,
                                                                  receiver: Receiver) -> None:
    """Without watched attributes an update that touched only hidden attributes must not
    notify either (its mere arrival would say a hidden value moved)."""
    w = world  # these tests write legitimately; what must not arrive is asserted
    w.allow_receiver(receiver.port)
    await _rain_grant(w)
    await _subscribe(w, "firm", {"entities": [{"type": "Gauge"}],
                                 "notification": {"endpoint": {"uri": receiver.url()}}})
    await _patch(w, "nagano", "urn:ngsi-ld:Gauge:nagano-0", {"battery": _prop(3.0)})
    await asyncio.sleep(1.5)
    assert receiver.received == []
    await _patch(w, "nagano", "urn:ngsi-ld:Gauge:nagano-0", {"rain": _prop(3.0)})
    await receiver.wait_for(1)
