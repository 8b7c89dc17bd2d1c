"""The egress policy (hub/egress.py) against real sockets, with enforcement on: remote
@contexts and notification endpoints never reach inside addresses, the refusal reads the
same whatever is (or is not) at the address, and nothing is stored by a refused fetch."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from hub import keys
from hub.egress import EgressPolicy, EgressRefused
from hub.subscriptions.senders import DeliveryError, Message, MqttSender
from tests.integration.authz_world import BASE, JSON
from tests.security.conftest import Digest
from tests.security.egress_world import CONTEXT, enforcing_world, link, site

S = BASE + "/subscriptions"


def _opaque(body: dict[str, Any], url: str) -> dict[str, Any]:
    """The error body with the caller's own URL taken out: what differs between targets."""
    return {k: (v.replace(url, "<url>") if isinstance(v, str) else v) for k, v in body.items()}


async def test_link_to_inside_addresses_is_refused_with_one_opaque_error(
        database_url: str) -> None:
    async with site() as inside, enforcing_world(database_url) as w:
        digest = Digest(database_url)
        await digest.seal()
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))  # bound, never listening: a closed port
        closed_port = closed.getsockname()[1]
        targets = [
            inside.url("/ctx/1"),                        # open port, serves a valid context
            f"http://127.0.0.1:{closed_port}/ctx",       # closed port
            "http://10.0.0.1/ctx",                       # private
            "http://169.254.169.254/latest/meta-data",   # cloud metadata
            f"http://[::1]:{inside.port}/ctx/2",         # IPv6 loopback
            inside.url("/ctx/3", host="localhost"),      # a name resolving to loopback
            f"http://[::ffff:127.0.0.1]:{inside.port}/ctx/4",  # IPv4-mapped loopback
        ]
        bodies = []
        for url in targets:
            resp = await w.http.get(BASE + "/entities?type=Gauge",
                                    headers=w.auth("nagano", **link(url)))
            assert resp.status == 503, (url, await resp.text())
            bodies.append(_opaque(await resp.json(), url))
        assert all(b == bodies[0] for b in bodies), bodies
        assert bodies[0]["type"].endswith("LdContextNotAvailable")
        assert "could not be retrieved as a JSON-LD context" in bodies[0]["detail"]
        assert inside.hits == []  # the hub never connected to the open port
        closed.close()
        await digest.check()


async def test_redirect_to_an_inside_address_is_refused(database_url: str) -> None:
    async with site() as allowed, site() as inside, enforcing_world(
            database_url, egress_allow=f"127.0.0.1:{allowed.port}") as w:
        digest = Digest(database_url)
        await digest.seal()
        for target in (inside.url("/ctx/1"), "http://169.254.169.254/latest"):
            url = allowed.url(f"/to?u={target}")
            resp = await w.http.get(BASE + "/entities?type=Gauge",
                                    headers=w.auth("nagano", **link(url)))
            assert resp.status == 503, await resp.text()
        assert len(allowed.hits) == 2 and inside.hits == []
        await digest.check()


async def test_a_json_body_that_is_no_context_is_not_stored(database_url: str) -> None:
    async with site() as allowed, enforcing_world(
            database_url, egress_allow=f"127.0.0.1:{allowed.port}") as w:
        digest = Digest(database_url)
        await digest.seal()
        url = allowed.url("/plain")
        resp = await w.http.get(BASE + "/entities?type=Gauge",
                                headers=w.auth("nagano", **link(url)))
        assert resp.status == 503
        assert "inside" not in await resp.text()  # the body is never echoed either
        served = await w.http.get(BASE + "/jsonldContexts/" + url.replace("/", "%2F"))
        assert served.status == 404
        await digest.check()


async def test_anonymous_caller_cannot_make_the_hub_fetch(database_url: str) -> None:
    async with site() as allowed, enforcing_world(
            database_url, egress_allow=f"127.0.0.1:{allowed.port}") as w:
        digest = Digest(database_url)
        await digest.seal()
        url = allowed.url("/ctx/new")
        resp = await w.http.get(BASE + "/entities?type=Gauge", headers=link(url))
        assert resp.status == 401, await resp.text()
        assert "needs an access token" in (await resp.json())["detail"]
        assert allowed.hits == []
        await digest.check()
        # once an authenticated caller stored it, anonymous readers may use it
        ok = await w.http.get(BASE + "/entities?type=Gauge",
                              headers=w.auth("nagano", **link(url)))
        assert ok.status == 200, await ok.text()
        again = await w.http.get(BASE + "/entities?type=River", headers=link(url))
        assert again.status == 200
        assert allowed.hits == ["/ctx/new"]  # fetched once, then served from the store


async def test_quota_of_stored_contexts_per_organisation(database_url: str) -> None:
    async with site() as allowed, enforcing_world(
            database_url, context_quota=2, egress_allow=f"127.0.0.1:{allowed.port}") as w:
        for n in (1, 2):
            resp = await w.http.get(BASE + "/entities?type=Gauge",
                                    headers=w.auth("nagano", **link(allowed.url(f"/ctx/{n}"))))
            assert resp.status == 200, await resp.text()
        digest = Digest(database_url)
        await digest.seal()
        over = await w.http.get(BASE + "/entities?type=Gauge",
                                headers=w.auth("nagano", **link(allowed.url("/ctx/3"))))
        assert over.status == 403, await over.text()
        assert "context_quota" in (await over.json())["detail"]
        hosted = await w.http.post(BASE + "/jsonldContexts", json=CONTEXT,
                                   headers=w.auth("nagano", **JSON))
        assert hosted.status == 403  # hosting counts against the same quota
        await digest.check()
        # another organisation has its own quota
        other = await w.http.get(BASE + "/entities?type=Gauge",
                                 headers=w.auth("ueda", **link(allowed.url("/ctx/3"))))
        assert other.status == 200, await other.text()


async def test_memory_cache_is_bounded_in_entries_and_bytes(database_url: str) -> None:
    async with site() as allowed, enforcing_world(
            database_url, context_cache_entries=2, egress_allow=f"127.0.0.1:{allowed.port}") as w:
        store = w.http.app[keys.CONTEXTS]
        for n in range(5):
            resp = await w.http.get(BASE + "/entities?type=Gauge",
                                    headers=w.auth("nagano", **link(allowed.url(f"/ctx/{n}"))))
            assert resp.status == 200
        assert store.memory_usage[0] == 2
    async with site() as allowed, enforcing_world(
            database_url, context_cache_bytes=150, egress_allow=f"127.0.0.1:{allowed.port}") as w:
        store = w.http.app[keys.CONTEXTS]
        for n in range(5):
            resp = await w.http.get(BASE + "/entities?type=Gauge",
                                    headers=w.auth("nagano", **link(allowed.url(f"/ctx/{n}"))))
            assert resp.status == 200
        entries, size = store.memory_usage
        assert 1 <= entries < 5 and size <= 150


def _subscription(uri: str) -> dict[str, Any]:
    return {"id": "urn:ngsi-ld:Subscription:egress", "type": "Subscription",
            "entities": [{"type": "Gauge"}], "notification": {"endpoint": {"uri": uri}}}


@pytest.mark.parametrize("uri", [
    "http://127.0.0.1:9/notify", "http://10.1.2.3/notify", "http://localhost:9/notify",
    "http://[::1]:9/notify", "http://169.254.169.254/latest", "http://100.64.0.1/n",
    "http://[fd00::1]/n", "mqtt://127.0.0.1:1883/renkei/topic",
    "mqtt://localhost/renkei/topic",
])
async def test_subscription_endpoint_inside_is_refused_at_create(
        database_url: str, uri: str) -> None:
    async with enforcing_world(database_url) as w:
        digest = Digest(database_url)
        await digest.seal()
        resp = await w.http.post(S, json=_subscription(uri), headers=w.auth("nagano", **JSON))
        assert resp.status == 400, await resp.text()
        assert (await resp.json())["type"].endswith("BadRequestData")
        await digest.check()


async def test_name_rebound_to_loopback_after_the_check_is_not_delivered(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the name resolves to a public address when the delivery is checked
    and to loopback when the connection is made; the connection-time check refuses it."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def rebinding(host: Any, port: Any, *args: Any, **kw: Any) -> Any:
        """The policy's pre-check (flags 0) sees a public address; the HTTP client's own
        lookup (AI_ADDRCONFIG, asyncio passes flags fourth) gets loopback, every time."""
        if host == "rebind.example":
            connecting = len(args) > 3 and args[3] != 0
            lookups.append("connect" if connecting else "check")
            return real("127.0.0.1" if connecting else "93.184.216.34", port, *args, **kw)
        return real(host, port, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    async with site() as inside, enforcing_world(database_url) as w:
        uri = f"http://rebind.example:{inside.port}/notify"
        resp = await w.http.post(S, json=_subscription(uri), headers=w.auth("nagano", **JSON))
        assert resp.status == 201, await resp.text()
        patch = await w.http.patch(BASE + "/entities/urn:ngsi-ld:Gauge:nagano-1/attrs",
                                   json={"rain": {"type": "Property", "value": 9.0}},
                                   headers=w.auth("nagano", **JSON))
        assert patch.status == 204, await patch.text()
        for _ in range(100):
            got = await (await w.http.get(S + "/urn:ngsi-ld:Subscription:egress",
                                          headers=w.auth("nagano"))).json()
            if got["notification"].get("lastFailure"):
                break
            await asyncio.sleep(0.1)
        assert got["notification"].get("lastFailure"), got
        assert "check" in lookups and "connect" in lookups, lookups
        assert inside.hits == []  # refused on the address connected to, not by the pre-check


async def test_the_hubs_http_client_refuses_inside_addresses_by_name(
        database_url: str) -> None:
    """The session every outbound HTTP request uses checks the address it connects to."""
    async with site() as inside, enforcing_world(database_url) as w:
        http = w.http.app[keys.HTTP]
        for url in (inside.url("/x", host="localhost"), inside.url("/x")):
            with pytest.raises(Exception) as caught:
                await http.post(url, data=b"{}")
            assert isinstance(caught.value.__cause__ or caught.value, EgressRefused) or \
                "egress policy" in str(caught.value), caught.value
        assert inside.hits == []


async def test_mqtt_sender_resolves_and_refuses_loopback() -> None:
    sender = MqttSender(EgressPolicy(enforce=True))
    for host in ("127.0.0.1", "localhost"):
        msg = Message(f"mqtt://{host}:1883/renkei/t", {"data": []}, "application/json", {},
                      1.0, {})
        with pytest.raises(DeliveryError, match="egress policy"):
            await sender.send(msg)
    await sender.close()


def test_policy_rules() -> None:
    enforce = EgressPolicy(enforce=True, allow="127.0.0.1:8080,10.9.0.0/16")
    dev = EgressPolicy(enforce=False)
    for address, port in (("127.0.0.1", 80), ("10.0.0.1", 80), ("::1", 80),
                          ("::ffff:127.0.0.1", 80), ("2002:7f00:1::", 80),
                          ("64:ff9b::a00:1", 80), ("100.64.1.1", 80), ("224.0.1.1", 80),
                          ("0.0.0.0", 80), ("fc00::1", 80), ("240.0.0.1", 80)):
        assert not enforce.permits(address, port), address
        assert dev.permits(address, port), address
    for address in ("169.254.169.254", "100.100.100.200", "fe80::1", "fd00:ec2::254",
                    "::ffff:169.254.169.254"):
        assert not enforce.permits(address, 80) and not dev.permits(address, 80), address
    assert enforce.permits("127.0.0.1", 8080) and enforce.permits("10.9.3.4", 1)
    assert enforce.permits("8.8.8.8", 443) and not enforce.permits("127.0.0.1", 8081)
    with pytest.raises(ValueError):
        EgressPolicy(enforce=True, allow="receiver.internal:8080")
    assert isinstance(EgressRefused("x"), OSError)
