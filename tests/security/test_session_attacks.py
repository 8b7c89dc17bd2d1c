"""Outside attacks on this session's new surfaces, with enforcement on: the public route
context sources notify (``POST /ngsi-ld/ex/v1/federation/notifications/{forwardId}``,
hub/federation/subscriptions.py), what the hub tells a source when it forwards a
subscription, ``GET /metrics``, and ``PUT .../attrs/{attrId}`` taking the attribute wrapped
in its name. Each attack must be refused (or come to nothing) and, where ``digest`` is
used, change nothing stored: the forwarding rows, the entities and the subscriptions are
in the digest; the notification queue is not (it is volatile), so it is counted here.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub import keys
from hub.federation.forward import (
    Failure,
    federation_of,
    parse_registration,
)
from registry import RegistryRepository
from registry.model import default_dataset, organisation_from_json
from tests.federation.test_forwarded_subscriptions import NOTIFY, S, Source, source
from tests.integration.authz_world import BASE, GAUGE, JSON, RAIN, UEDA, World
from tests.integration.receiver import Receiver, receiver
from tests.security.conftest import Digest

__all__ = ["receiver", "source"]

LATER = "2099-01-01T00:00:00Z"
CORE_LINK = ('<https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld>;'
             ' rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"')
RIVER = "https://uri.etsi.org/ngsi-ld/default-context/River"
LOANS = "https://uri.etsi.org/ngsi-ld/default-context/Loans"
PUMP = "https://uri.etsi.org/ngsi-ld/default-context/Pump"
VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"


async def _grant(w: World, dataset: str) -> str:
    gid = await w.grant({"dataset": dataset, "actions": ["read", "subscribe"],
                         "purpose": "flood-app", "valid_from": "2026-01-01T00:00:00Z",
                         "valid_until": LATER}, "firm")
    await w.refresh()
    return gid


async def _subscribe(w: World, rcv: Receiver, **extra: Any) -> dict[str, Any]:
    w.allow_receiver(rcv.port)
    sub = {"id": "urn:ngsi-ld:Subscription:atk", "type": "Subscription",
           "entities": [{"type": "Gauge"}],
           "notification": {"endpoint": {"uri": rcv.url()}}, **extra}
    resp = await w.http.post(S, json=sub, headers=w.auth("firm", **JSON))
    assert resp.status == 201, await resp.text()
    return sub


async def _post(w: World, path: str, data: bytes | str, *,
                ctype: str = "application/json") -> tuple[int, str]:
    """POST as a source (or anyone on the network) does: a real socket, no hub token."""
    async with aiohttp.ClientSession() as http, http.post(
            str(w.http.make_url(path)), data=data,
            headers={"Content-Type": ctype, "Link": CORE_LINK}) as resp:
        return resp.status, await resp.text()


def _entity(eid: str, etype: str = GAUGE, rain: float = 30.0) -> dict[str, Any]:
    return {"id": eid, "type": etype, RAIN: {"type": "Property", "value": rain}}


def _notification(remote_id: str, *entities: dict[str, Any]) -> dict[str, Any]:
    return {"id": "urn:ngsi-ld:Notification:x", "type": "Notification",
            "subscriptionId": remote_id, "notifiedAt": "2026-12-06T00:00:00Z",
            "triggerReason": "attributeUpdated", "data": list(entities)}


async def _queued(w: World) -> int:
    return await w.count("SELECT count(*) FROM ngsild.notifications")


async def _forwarded(w: World, rcv: Receiver, src: Source, **extra: Any
                     ) -> tuple[str, str, dict[str, Any]]:
    """A firm subscription forwarded to Ueda's source: (notify path, remote id, body the
    source was asked)."""
    await _subscribe(w, rcv, **extra)
    [(_, made)] = src.created
    return urlsplit(made["notification"]["endpoint"]["uri"]).path, made["id"], made


# -- 3. the public notification route ----------------------------------------------------------

async def test_a_guessed_forward_id_is_the_same_404_before_anything_is_read(
        world: World, source: Source, receiver: Receiver, digest: Digest) -> None:
    """No status, problem type or detail tells an unknown forwardId from a malformed one,
    an unknown tenant from a known one, or a forged one from a real one missing a byte;
    a non-JSON or broken body is not looked at before the forwardId is (415/400 would
    show the route got further)."""
    w = world
    await _grant(w, "ueda-rain")
    path, remote, _ = await _forwarded(w, receiver, source)
    await digest.seal()
    token = path.rsplit("/", 1)[1]
    limit = w.http.app[keys.SETTINGS].max_body_bytes
    ok = json.dumps(_notification(remote, _entity("urn:ngsi-ld:Gauge:ueda-9")))
    tenant = base64.urlsafe_b64encode(b"ngsild").decode().rstrip("=")
    forged = [
        NOTIFY + "A" * 43,                       # a well-formed, unknown token
        NOTIFY + token[:-1] + ("A" if token[-1] != "A" else "B"),  # one character off
        NOTIFY + "A" * 129,                      # too long
        NOTIFY + token + ".bm9wZQ",              # the real token, an unknown tenant
        NOTIFY + token + "." + tenant,           # the real token, the default schema named
        NOTIFY + token + ".%00%01",              # not base64url
        NOTIFY + token + "." + base64.urlsafe_b64encode(b"\x00x").decode(),  # unprintable
        NOTIFY + "." + tenant,                   # no token at all
        NOTIFY + "%2e%2e%2f%2e%2e%2fentities",   # path games
    ]
    answers = set()
    for bad in forged:
        for data, ctype in ((ok, "application/json"), ("<xml/>", "text/xml"),
                            ("{", "application/json")):
            status, text = await _post(w, bad, data, ctype=ctype)
            assert status == 404, (bad, ctype, status, text)
            answers.add(text)
    assert len(answers) == 1, answers  # one and the same problem details for every miss
    # an oversized body is refused by the server-wide limit before any route: the same
    # 413 for a forged and a real forwardId (no oracle either way)
    big = "x" * (limit + 10)
    assert {(await _post(w, p, big))[0] for p in (forged[0], path)} == {413}
    assert await _queued(w) == 0
    await asyncio.sleep(0.3)
    assert receiver.received == []


async def test_a_source_cannot_speak_for_another_organisations_entities(
        world: World, source: Source, receiver: Receiver, digest: Digest) -> None:
    """Ueda's source, holding a valid forwardId, notifies Nagano's gauge (an id Nagano's
    dataset claims), Nagano's river and Ueda's personal loans (types outside what the
    registration offers) next to one gauge of its own. The firm may read Nagano's gauges
    too, so only the hub's rule stops the forgery: only Ueda's own gauge is notified, and
    no local entity changes."""
    w = world
    await _grant(w, "ueda-rain")
    await _grant(w, "nagano-rain")
    await _grant(w, "nagano-rivers")
    path, remote, _ = await _forwarded(w, receiver, source)
    await digest.seal()
    forged = [_entity("urn:ngsi-ld:Gauge:nagano-0", rain=999.0),
              _entity("urn:ngsi-ld:Gauge:nagano-77", rain=999.0),
              _entity("urn:ngsi-ld:River:chikuma", RIVER, 999.0),
              _entity("urn:ngsi-ld:Loans:ueda-1", LOANS, 999.0)]
    for ent in forged:
        status, text = await _post(w, path, json.dumps(_notification(remote, ent)))
        assert status == 204, text
    # a forged dataset stamp does not move an entity into another organisation's dataset
    stamped = _entity("urn:ngsi-ld:Gauge:nagano-0", rain=999.0)
    stamped["https://uri.etsi.org/ngsi-ld/default-context/refDataset"] = {
        "type": "Relationship", "object": "urn:ngsi-ld:Dataset:ueda-rain"}
    status, _ = await _post(w, path, json.dumps(_notification(remote, stamped)))
    assert status == 204
    await asyncio.sleep(1.0)
    assert receiver.received == [], [r.body for r in receiver.received]
    assert await _queued(w) == 0
    await digest.check()  # no entity, subscription counter or forwarding row changed
    # the same forgeries mixed with the source's own gauge: only that one goes out
    status, text = await _post(w, path, json.dumps(_notification(
        remote, *forged, stamped, _entity("urn:ngsi-ld:Gauge:ueda-remote-1", rain=31.0))))
    assert status == 204, text
    [got] = await receiver.wait_for(1)
    assert [e["id"] for e in got.body["data"]] == ["urn:ngsi-ld:Gauge:ueda-remote-1"]
    await asyncio.sleep(0.5)
    await digest.seal()  # the legitimate delivery counts on the subscription: not an attack


async def test_a_revoked_grant_stops_what_the_source_still_sends(
        world: World, source: Source, receiver: Receiver) -> None:
    """The grant behind the forwarding is revoked; the source, which still has its
    subscription (no PATCH came), goes on notifying: nothing reaches the firm."""
    w = world
    gid = await _grant(w, "ueda-rain")
    path, remote, _ = await _forwarded(w, receiver, source)
    resp = await w.http.post(f"/authz/v1/grants/{gid}/revoke", json={},
                             headers=w.auth("ueda-admin"))
    assert resp.status == 200, await resp.text()
    await w.refresh()
    status, text = await _post(w, path, json.dumps(_notification(
        remote, _entity("urn:ngsi-ld:Gauge:ueda-remote-1"))))
    assert status == 204, text
    await asyncio.sleep(1.5)
    assert receiver.received == [], [r.body for r in receiver.received]


async def test_a_revocation_after_queueing_is_applied_at_send_time(
        world: World, source: Source, receiver: Receiver) -> None:
    """The notification is queued while the grant holds, the grant is revoked before the
    outbox sends it: the send-time decision drops it (receiver stopped meanwhile so the
    queue cannot drain early)."""
    w = world
    gid = await _grant(w, "ueda-rain")
    path, remote, _ = await _forwarded(w, receiver, source)
    receiver.status = 503  # the first attempt fails: the item stays queued for a retry
    status, _ = await _post(w, path, json.dumps(_notification(
        remote, _entity("urn:ngsi-ld:Gauge:ueda-remote-1"))))
    assert status == 204
    assert await _queued(w) == 1
    await asyncio.sleep(0.5)  # the failed first attempt (the next one is 1 s later)
    resp = await w.http.post(f"/authz/v1/grants/{gid}/revoke", json={},
                             headers=w.auth("ueda-admin"))
    assert resp.status == 200, await resp.text()
    await w.refresh()
    receiver.status = 200
    await asyncio.sleep(3.5)  # past the retries at 1 s and 2 s
    assert receiver.received == [], [r.body for r in receiver.received]


async def test_notifications_for_a_paused_or_foreign_subscription_come_to_nothing(
        world: World, source: Source, receiver: Receiver) -> None:
    """A notification naming another subscription is refused; a paused subscription
    notifies nothing, however often the source calls."""
    w = world
    await _grant(w, "ueda-rain")
    path, remote, _ = await _forwarded(w, receiver, source)
    ent = _entity("urn:ngsi-ld:Gauge:ueda-remote-1")
    status, _ = await _post(w, path, json.dumps(_notification(
        "urn:ngsi-ld:Subscription:someone-else", ent)))
    assert status == 400
    resp = await w.http.patch(f"{S}/urn:ngsi-ld:Subscription:atk", json={"isActive": False},
                              headers=w.auth("firm", **JSON))
    assert resp.status == 204, await resp.text()
    for _ in range(5):
        status, _ = await _post(w, path, json.dumps(_notification(remote, ent)))
        assert status == 204
    await asyncio.sleep(1.0)
    assert receiver.received == [] and await _queued(w) == 0


async def test_oversized_deep_or_wide_notifications_are_refused(
        world: World, source: Source, receiver: Receiver, digest: Digest) -> None:
    """With a valid forwardId: a body over the limit is 413, nesting deeper than the
    parser takes and more than 1000 entities are 400 — never a 500, nothing queued."""
    w = world
    await _grant(w, "ueda-rain")
    path, remote, _ = await _forwarded(w, receiver, source)
    await digest.seal()
    limit = w.http.app[keys.SETTINGS].max_body_bytes
    status, _ = await _post(w, path, "[" * (limit + 1))
    assert status == 413
    ent = json.dumps({**_entity("urn:ngsi-ld:Gauge:ueda-remote-1"),
                      RAIN: {"type": "Property", "value": "DEEP"}})
    deep = json.dumps(_notification(remote, {"id": "x"})).replace(
        '{"id": "x"}', ent).replace('"DEEP"', '{"a": ' * 5000 + "1" + "}" * 5000)
    status, text = await _post(w, path, deep)
    assert status == 400, text
    wide = [_entity(f"urn:ngsi-ld:Gauge:ueda-r{i}") for i in range(1001)]
    status, text = await _post(w, path, json.dumps(_notification(remote, *wide)))
    assert status in (400, 413), text
    for bad in ({"type": "Notification", "data": [{"id": "not a uri", "type": GAUGE}]},
                {"type": "Notification", "data": [{"type": GAUGE}]},
                {"type": "Notification", "data": ["x"]},
                {"type": "Notification", "data": {}},
                ["Notification"]):
        status, text = await _post(w, path, json.dumps(bad))
        assert status == 400, (bad, status, text)
    assert await _queued(w) == 0


async def test_the_source_learns_nothing_of_the_subscriber_but_its_selection(
        world: World, source: Source, receiver: Receiver) -> None:
    """What Ueda's broker is asked carries the firm's selection (needed to notify), but
    not the firm's endpoint, its receiverInfo secrets, its token or its identity."""
    w = world
    await _grant(w, "ueda-rain")
    w.allow_receiver(receiver.port)
    _, _, made = await _forwarded(
        w, receiver, source, q="rain>20",
        description="firm internal: flood model v3",
        notification={"endpoint": {"uri": receiver.url("/firm-secret-path"),
                                   "receiverInfo": [{"key": "X-Firm-Key",
                                                     "value": "firm-secret-value"}]},
                      "attributes": ["rain"]})
    [(headers, _)] = source.created
    text = json.dumps(made)
    for secret in ("firm-secret-path", "firm-secret-value", "X-Firm-Key",
                   "flood model", "urn:ngsi-ld:Subscription:atk", w.tokens["firm"],
                   w.clients["firm"]["client_id"]):
        assert secret not in text, secret
        assert all(secret not in v for v in headers.values()), secret
    assert "Authorization" not in headers
    assert made["notification"]["endpoint"]["uri"].startswith("http://hub.test" + NOTIFY)


# -- 1. GET /metrics ---------------------------------------------------------------------------

async def test_metrics_stay_the_operators_whatever_the_request_says(
        world: World, digest: Digest) -> None:
    """No tenant header, query, method or forged header makes a non-operator an operator."""
    w = world
    tries: list[tuple[str, dict[str, str]]] = [
        ("/metrics", {"NGSILD-Tenant": "ngsild"}),
        ("/metrics?tenant=renkei", {}),
        ("/metrics", {"X-Forwarded-For": "127.0.0.1", "X-Organisation": "200000"}),
        ("/metrics/", {}),
    ]
    for who in ("firm", "firm-admin", "ueda-admin", "nagano"):
        for path, extra in tries:
            resp = await w.http.get(path, headers=w.auth(who, **extra))
            assert resp.status in (403, 404), (who, path, resp.status)
            assert "renkei_federation" not in await resp.text()
    resp = await w.http.get("/metrics", headers={"Authorization": "Bearer forged"})
    assert resp.status == 401
    resp = await w.http.get("/metrics", headers={"Authorization": "Basic cHJlZjpwcmVm"})
    assert resp.status == 401
    resp = await w.http.post("/metrics", headers=w.auth("pref"))
    assert resp.status in (401, 403, 405)


# -- 4. PUT .../attrs/{attrId} with the attribute wrapped ----------------------------------

async def test_a_wrapped_attribute_gives_no_way_around_the_write_checks(
        world: World, digest: Digest) -> None:
    """The wrapper form is checked as the plain one: no write right, another city's
    entity, a wrapper naming another attribute or a system member, a wrapper with a
    forged dataset — refused, nothing stored."""
    w = world
    nagano0 = f"{BASE}/entities/urn:ngsi-ld:Gauge:nagano-0/attrs"
    attr = {"type": "Property", "value": 999.0}
    for who in ("firm", "ueda"):
        resp = await w.http.put(f"{nagano0}/rain", json={"rain": attr},
                                headers=w.auth(who, **JSON))
        assert resp.status in (403, 404), (who, resp.status, await resp.text())
    ueda0 = f"{BASE}/entities/urn:ngsi-ld:Gauge:ueda-0/attrs"
    for path, body in (("rain", {"battery": attr}),          # another attribute's name
                       ("rain", {"rain": attr, "battery": attr}),
                       ("rain", {"rain": {"rain": attr}}),   # wrapped twice
                       ("rain", {"rain": "x"}),
                       ("id", {"id": attr}),
                       ("type", {"type": attr}),
                       ("refDataset", {"refDataset": {
                           "type": "Relationship",
                           "object": "urn:ngsi-ld:Dataset:nagano-rain"}})):
        resp = await w.http.put(f"{ueda0}/{path}", json=body, headers=w.auth("ueda", **JSON))
        assert resp.status in (400, 403, 404), (path, body, resp.status, await resp.text())


async def test_a_source_cannot_notify_what_its_registration_does_not_offer(
        world: World, source: Source, receiver: Receiver, digest: Digest) -> None:
    """Ueda registered its broker for gauges only. The firm may read Ueda's pumps
    and gauges and subscribes to a watched attribute of any type, so the subscription's
    own selection and the firm's grant both let a pump through: only the registration's
    ``information`` (``Registration.infos``) stops the source speaking of it."""
    w = world
    # Ueda's default dataset, where an entity no rule covers lands (the registry service
    # makes it with the organisation; authz_world saves organisations directly)
    await RegistryRepository(w.http.app[keys.POOL]).save_dataset(default_dataset(
        organisation_from_json({"id": UEDA, "name": {"ja": "上田市", "en": "Ueda City"}})))
    w.http.app[keys.REGISTRY_RULES].invalidate()
    await _grant(w, "ueda-rain")
    await w.grant({"owner": UEDA, "entity_type": PUMP, "actions": ["read", "subscribe"],
                   "purpose": "flood-app", "valid_from": "2026-01-01T00:00:00Z",
                   "valid_until": LATER}, "firm")
    await w.refresh()
    w.allow_receiver(receiver.port)
    sub = {"id": "urn:ngsi-ld:Subscription:atk", "type": "Subscription",
           "watchedAttributes": ["rain"],
           "notification": {"endpoint": {"uri": receiver.url()}}}
    resp = await w.http.post(S, json=sub, headers=w.auth("firm", **JSON))
    assert resp.status == 201, await resp.text()
    [(_, made)] = source.created
    path, remote = urlsplit(made["notification"]["endpoint"]["uri"]).path, made["id"]
    await digest.seal()
    pump = _entity("urn:ngsi-ld:Pump:ueda-1", PUMP)
    status, text = await _post(w, path, json.dumps(_notification(remote, pump)))
    assert status == 204, text
    await asyncio.sleep(1.0)
    assert receiver.received == [], [r.body for r in receiver.received]
    assert await _queued(w) == 0
    await digest.check()
    # the registered type does go through (the attack above is not refused for another reason)
    status, _ = await _post(w, path, json.dumps(_notification(
        remote, _entity("urn:ngsi-ld:Gauge:ueda-remote-2"))))
    assert status == 204
    await receiver.wait_for(1)
    await asyncio.sleep(0.5)
    await digest.seal()


# -- 5. source calls started before the local query, cancelled when it fails ----------------

async def test_a_cancelled_probe_does_not_wedge_a_sources_circuit(world: World) -> None:
    """``QueryPlan.start`` asks the sources before the local query runs and ``cancel``
    cancels the gathered ``Federation.guarded`` calls when the local query fails (or the
    handler is cancelled). When that call is the half-open probe of an open circuit, the
    cancellation must not leave the breaker believing a probe is still in flight: else
    ``allow`` answers False for ever and this process never asks that source again — a
    caller who can make the local part fail right after a source's cool-down (or who is
    simply unlucky) switches a municipality's broker off until a restart."""
    fed = federation_of(world.http.app)
    reg = parse_registration({"id": "urn:ngsi-ld:ContextSourceRegistration:probe",
                              "owner": UEDA, "body": {
                                  "endpoint": "http://127.0.0.1:9",
                                  "information": [{"entities": [{"type": "Gauge"}]}],
                                  "management": {"cooldown": 100}}})
    assert reg is not None and reg.cooldown is not None and reg.cooldown < 1

    async def refused() -> str:
        raise ConnectionRefusedError("source down")

    async def hangs() -> str:
        await asyncio.sleep(60)
        return "late"

    async def answers() -> str:
        return "ok"

    for _ in range(fed.breakers.failures):  # the source is down: its circuit opens
        assert isinstance(await fed.guarded(reg, refused), Failure)
    assert isinstance(await fed.guarded(reg, answers), Failure)  # skipped while open
    await asyncio.sleep(reg.cooldown + 0.05)
    # after the cool-down the next query's call is the probe; its local part fails and
    # QueryPlan.cancel cancels the gathered calls
    plan = asyncio.ensure_future(asyncio.gather(fed.guarded(reg, hangs)))
    await asyncio.sleep(0.05)
    plan.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await plan
    await asyncio.sleep(reg.cooldown + 0.05)
    # the source is back: the next query must reach it (at the latest after a cool-down)
    got = await fed.guarded(reg, answers)
    assert got == "ok", f"the source is never asked again: {got}"


# -- 2. distributed /types and /attributes -------------------------------------------------

async def test_a_source_cannot_break_or_inflate_discovery_for_its_readers(
        world: World, digest: Digest) -> None:
    """Ueda's source answers the discovery calls with counts no store holds (beyond 64
    bits), names outside its registration (a type it did not register, a 1,000-name
    flood) and an attribute list that is no list. Its readers — Ueda itself here —
    get the hub's answer with the source's invalid part left out, never a 500, and no
    name the registration does not offer."""
    w = world
    huge = 2 ** 70

    async def handle(request: web.Request) -> web.Response:
        path = request.path[len(BASE):]
        if path == "/types":
            return web.json_response({"id": "urn:ngsi-ld:EntityTypeList:x",
                                      "type": "EntityTypeList",
                                      "typeList": ["Gauge", "Secret",
                                                   *(f"T{i}" for i in range(1000))]})
        if path.startswith("/types/"):
            return web.json_response({"id": VOCAB + "Gauge", "type": "EntityTypeInfo",
                                      "typeName": "Gauge", "entityCount": huge,
                                      "attributeDetails": []})
        if path.startswith("/attributes/"):
            return web.json_response({"id": VOCAB + "rain", "type": "Attribute",
                                      "attributeName": "rain", "attributeCount": huge,
                                      "typeNames": ["Gauge"]})
        return web.json_response({"id": "urn:x", "type": "AttributeList",
                                  "attributeList": "rain"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        w.allow_receiver(server.port or 0)
        reg = {"type": "ContextSourceRegistration",
               "information": [{"entities": [{"type": "Gauge"}]}],
               "endpoint": f"http://127.0.0.1:{server.port}"}
        await w.register_source(reg)
        await digest.seal()
        resp = await w.http.get(BASE + "/types", headers=w.auth("ueda"))
        assert resp.status == 200, await resp.text()
        names = (await resp.json())["typeList"]
        assert "Secret" not in names and "T1" not in names, names
        for path in ("/types/Gauge", "/attributes/rain", "/attributes"):
            resp = await w.http.get(BASE + path, headers=w.auth("ueda"))
            assert resp.status == 200, (path, resp.status, await resp.text())
            body = await resp.json()
            for key in ("entityCount", "attributeCount"):
                if key in body:
                    assert 0 <= body[key] < huge, (path, body)
    finally:
        await server.close()


async def test_a_source_is_not_told_of_subscriptions_to_another_organisations_entities(
        world: World, source: Source, receiver: Receiver) -> None:
    """The firm may read both cities' gauges and subscribes to Nagano's gauge nagano-0 by
    id. Ueda's source could never notify it (``_stamp`` drops an id Nagano's dataset
    claims), so forwarding the subscription there would only tell Ueda which of Nagano's
    entities the firm watches, and with what ``q``: it is not forwarded; a selector of
    Ueda's own ids still is."""
    w = world
    await _grant(w, "ueda-rain")
    await _grant(w, "nagano-rain")
    await _subscribe(w, receiver, q="rain>20",
                     entities=[{"id": "urn:ngsi-ld:Gauge:nagano-0", "type": "Gauge"}])
    assert source.created == [], source.created
    resp = await w.http.patch(
        f"{S}/urn:ngsi-ld:Subscription:atk",
        json={"entities": [{"id": "urn:ngsi-ld:Gauge:nagano-0", "type": "Gauge"},
                           {"id": "urn:ngsi-ld:Gauge:ueda-7", "type": "Gauge"}]},
        headers=w.auth("firm", **JSON))
    assert resp.status == 204, await resp.text()
    [(_, made)] = source.created
    assert made["entities"] == [{"id": "urn:ngsi-ld:Gauge:ueda-7", "type": GAUGE}], made



async def test_a_forward_id_opens_no_other_tenant(
        world: World, source: Source, receiver: Receiver) -> None:
    """The real token of a default-tenant forwarding, sent with the suffix of a tenant that
    exists ("flood", made by Nagano's write), is looked up in that tenant only: 404, and
    nothing is queued for the subscriber."""
    w = world
    await _grant(w, "ueda-rain")
    path, remote, _ = await _forwarded(w, receiver, source)
    resp = await w.http.post(BASE + "/entities", json={
        "id": "urn:ngsi-ld:Gauge:nagano-flood-1", "type": "Gauge",
        "rain": {"type": "Property", "value": 1.0}},
        headers=w.auth("nagano", **JSON, **{"NGSILD-Tenant": "flood"}))
    assert resp.status == 201, await resp.text()
    suffix = base64.urlsafe_b64encode(b"flood").decode().rstrip("=")
    body = json.dumps(_notification(remote, _entity("urn:ngsi-ld:Gauge:ueda-remote-1")))
    status, _ = await _post(w, path + "." + suffix, body)
    assert status == 404
    schema = await w.count("SELECT count(*) FROM renkei.tenants WHERE name = 'flood'")
    assert schema == 1
    await asyncio.sleep(0.5)
    assert await _queued(w) == 0 and receiver.received == []
