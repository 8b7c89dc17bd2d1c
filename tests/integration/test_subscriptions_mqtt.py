"""MQTT notification endpoints against a real broker (see ``mqtt_broker.py``)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiomqtt
import orjson
import pytest
from aiohttp.test_utils import TestClient

from tests.integration.helpers import JSON, gauge
from tests.integration.mqtt_broker import mqtt_broker_port

S = "/ngsi-ld/v1/subscriptions"
E = "/ngsi-ld/v1/entities"


async def _collect(port: int, topic: str, n: int, ready: asyncio.Event,
                   out: list[dict[str, Any]]) -> None:
    async with aiomqtt.Client("127.0.0.1", port) as sub:
        await sub.subscribe(topic, qos=1)
        ready.set()
        async for message in sub.messages:
            assert isinstance(message.payload, bytes)
            out.append(orjson.loads(message.payload))
            if len(out) >= n:
                return


@pytest.mark.parametrize("broker", ["machine", "binary", "amqtt"])
async def test_mqtt_notifications_with_metadata_and_qos(client: TestClient, broker: str) -> None:
    """Against the machine's Mosquitto, a Mosquitto the test starts, and amqtt: whichever a
    fresh machine has, the same notifications arrive."""
    topic = f"renkei/test/{uuid.uuid4().hex}"
    choice = {"machine": {}, "binary": {"machine": False},
              "amqtt": {"machine": False, "binary": False}}[broker]
    async with mqtt_broker_port(**choice) as port:
        got: list[dict[str, Any]] = []
        ready = asyncio.Event()
        listener = asyncio.create_task(_collect(port, topic, 2, ready, got))
        await asyncio.wait_for(ready.wait(), 5)
        body = {
            "id": "urn:ngsi-ld:Subscription:mqtt", "type": "Subscription",
            "entities": [{"type": "WeatherObserved"}],
            "notification": {"endpoint": {
                "uri": f"mqtt://127.0.0.1:{port}/{topic}", "accept": "application/json",
                "notifierInfo": [{"key": "MQTT-QoS", "value": "1"}],
                "receiverInfo": [{"key": "X-Basin", "value": "chikuma"}]}},
        }
        assert (await client.post(S, json=body, headers=JSON)).status == 201
        for n in (1, 2):
            assert (await client.post(E, json=gauge(n, 5.0 * n), headers=JSON)).status == 201
        await asyncio.wait_for(listener, 10)
    assert [m["body"]["data"][0]["id"] for m in got] == [
        "urn:ngsi-ld:WeatherObserved:g1", "urn:ngsi-ld:WeatherObserved:g2"]
    first = got[0]
    assert first["body"]["type"] == "Notification"
    assert first["body"]["subscriptionId"] == "urn:ngsi-ld:Subscription:mqtt"
    assert first["metadata"]["Content-Type"] == "application/json"
    assert first["metadata"]["X-Basin"] == "chikuma"
    assert "Link" in first["metadata"]
    sub = await (await client.get(f"{S}/urn:ngsi-ld:Subscription:mqtt")).json()
    assert sub["notification"]["timesSent"] == 2


async def test_mqtt_broker_unreachable_then_retried(client: TestClient) -> None:
    """A broker that is down fails the delivery and counts it; nothing is lost meanwhile."""
    async with mqtt_broker_port() as port:
        dead = port + 1 if port != 1883 else 1
        body = {
            "id": "urn:ngsi-ld:Subscription:mqtt-dead", "type": "Subscription",
            "entities": [{"type": "WeatherObserved"}],
            "notification": {"endpoint": {"uri": f"mqtt://127.0.0.1:{dead}/x"}},
        }
        assert (await client.post(S, json=body, headers=JSON)).status == 201
        assert (await client.post(E, json=gauge(1), headers=JSON)).status == 201
        for _ in range(50):
            sub = await (await client.get(f"{S}/urn:ngsi-ld:Subscription:mqtt-dead")).json()
            if sub["notification"].get("timesFailed"):
                break
            await asyncio.sleep(0.1)
        assert sub["notification"]["timesFailed"] >= 1
        assert sub["notification"]["status"] == "failed"
