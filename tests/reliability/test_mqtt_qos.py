"""MQTT notifications are at least once by default: a broker restart mid-stream loses none.

GS CIM 009 lets ``notifierInfo`` ``MQTT-QoS`` choose the QoS; the hub uses 1 when it is
not given, and counts a ``PUBLISH`` as delivered only after the broker's ``PUBACK``
(hub/subscriptions/senders.py). QoS 0 stays available as at most once. The broker here is a
Mosquitto the test starts, stops and restarts itself (tests/integration/mqtt_broker.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections import Counter
from typing import Any

import aiomqtt
import orjson
import pytest
from aiohttp.test_utils import TestClient

from hub import keys
from hub.egress import EgressPolicy
from hub.subscriptions.senders import DeliveryError, Message, MqttSender
from tests.integration.helpers import JSON
from tests.integration.mqtt_broker import private_mosquitto

S = "/ngsi-ld/v1/subscriptions"
UPSERT = "/ngsi-ld/v1/entityOperations/upsert"
N = 1200  # notifications of the restart test, as in issue #18's measurement
STREAMS = 4  # subscriptions, so several PUBLISHes are in flight when the broker goes
RECONNECT_S = 1.5  # the subscriber's pause before it connects again


class DurableSubscriber:
    """A QoS 1 subscriber with a persistent session that reconnects after a restart, and
    counts every notification it receives (by notification id and by entity id)."""

    def __init__(self, port: int, topics: list[str]) -> None:
        self.port, self.topics = port, topics
        self.identifier = f"renkei-test-{uuid.uuid4().hex[:8]}"
        self.by_notification: Counter[str] = Counter()
        self.entities: set[str] = set()
        self.connected = asyncio.Event()
        self.disconnects = 0

    async def run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client("127.0.0.1", self.port, identifier=self.identifier,
                                          clean_session=False, timeout=2) as client:
                    for topic in self.topics:
                        await client.subscribe(topic, qos=1)
                    self.connected.set()
                    async for message in client.messages:
                        assert isinstance(message.payload, bytes)
                        body = orjson.loads(message.payload)["body"]
                        self.by_notification[body["id"]] += 1
                        self.entities.update(e["id"] for e in body["data"])
            except aiomqtt.MqttError:
                self.connected.clear()
                self.disconnects += 1
                # slower to come back than the hub, as a real receiver may be: what the hub
                # publishes meanwhile must wait in the broker for this session
                await asyncio.sleep(RECONNECT_S)


class CountingSender(MqttSender):
    """The hub's MQTT sender, recording what it sent and what the broker acknowledged."""

    def __init__(self, policy: EgressPolicy) -> None:
        super().__init__(policy)
        self.attempts = 0
        self.failures = 0
        self.acknowledged: set[str] = set()

    async def send(self, msg: Message) -> None:
        self.attempts += 1
        try:
            await super().send(msg)
        except DeliveryError:
            self.failures += 1
            raise
        self.acknowledged.add(msg.body["id"])


def _entity(stream: int, n: int) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:WeatherObserved:s{stream}-{n}", "type": "WeatherObserved",
            "precipitation": {"type": "Property", "value": float(n), "unitCode": "MMT"}}


async def _wait(predicate: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


async def test_broker_restart_mid_stream_loses_nothing_at_default_qos(
        client: TestClient) -> None:
    """1,200 notifications at the default QoS; the broker restarts when half have arrived.
    Every notification reaches the subscriber (duplicates allowed, de-duplicated by id), and
    none the broker never acknowledged is recorded as delivered."""
    runtime = client.app[keys.SUBSCRIPTIONS]
    sender = CountingSender(runtime.deliverer.mqtt.policy)
    await runtime.deliverer.mqtt.close()
    runtime.deliverer.mqtt = sender
    async with private_mosquitto() as broker:
        topics = [f"renkei/reliability/{uuid.uuid4().hex}/{k}" for k in range(STREAMS)]
        subscriber = DurableSubscriber(broker.port, topics)
        listening = asyncio.create_task(subscriber.run())
        try:
            await asyncio.wait_for(subscriber.connected.wait(), 10)
            for k, topic in enumerate(topics):  # no notifierInfo: the default QoS applies
                body = {"id": f"urn:ngsi-ld:Subscription:qos-{k}", "type": "Subscription",
                        "entities": [{"type": "WeatherObserved",
                                      "idPattern": f"urn:ngsi-ld:WeatherObserved:s{k}-.*"}],
                        "notification": {"endpoint": {
                            "uri": f"mqtt://127.0.0.1:{broker.port}/{topic}"}}}
                resp = await client.post(S, json=body, headers=JSON)
                assert resp.status == 201, await resp.text()
            per_stream = N // STREAMS
            for start in range(0, per_stream, 25):
                batch = [_entity(k, n) for k in range(STREAMS)
                         for n in range(start, min(start + 25, per_stream))]
                resp = await client.post(UPSERT, json=batch, headers=JSON)
                assert resp.status in (201, 204), await resp.text()
            assert await _wait(lambda: len(subscriber.entities) >= N // 2, 60), \
                f"only {len(subscriber.entities)} notifications arrived before the restart"
            await broker.restart()  # SIGTERM, down 0.5 s, up again on the same port
            await _wait(lambda: len(subscriber.entities) >= N, 90)
            # the last notification can reach the subscriber before the hub has taken the
            # broker's acknowledgement and removed it from the outbox: give that 10 s
            async with client.app[keys.POOL].acquire() as con:
                for _ in range(200):
                    pending = await con.fetchval("SELECT count(*) FROM ngsild.notifications")
                    if not pending:
                        break
                    await asyncio.sleep(0.05)
        finally:
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening
    received = sum(subscriber.by_notification.values())
    delivered = len(subscriber.by_notification)
    lost_entities = N - len(subscriber.entities)
    acked_not_received = sender.acknowledged - set(subscriber.by_notification)
    duplicated = received - delivered
    print(f"\nMQTT default QoS, broker restart: sent={N} acknowledged={len(sender.acknowledged)} "
          f"delivered={delivered} lost={lost_entities} duplicated={duplicated} "
          f"publish attempts={sender.attempts} failed attempts={sender.failures} "
          f"subscriber connection attempts failed={subscriber.disconnects}")
    assert broker.restarts == 1 and subscriber.disconnects >= 1
    assert sender.failures >= 1, "the restart was never noticed by the hub"
    assert lost_entities == 0
    assert not acked_not_received, "recorded as delivered, never received"
    assert len(sender.acknowledged) == delivered == N
    assert pending == 0


def _message(port: int, topic: str, qos: str | None, timeout: float) -> Message:
    info = {} if qos is None else {"MQTT-QoS": qos}
    return Message(f"mqtt://127.0.0.1:{port}/{topic}", {"id": uuid.uuid4().hex, "data": []},
                   "application/json", {}, timeout, info)


@pytest.mark.parametrize("qos", [None, "1", "2"])
async def test_an_unacknowledged_publish_is_not_delivered(qos: str | None) -> None:
    """A broker that stops answering (SIGSTOP) never acknowledges: the send fails within
    its timeout, so the deliverer retries it instead of counting it delivered."""
    sender = MqttSender(EgressPolicy(enforce=False))
    async with private_mosquitto() as broker:
        assert broker.proc is not None
        await sender.send(_message(broker.port, "t", qos, 2.0))  # connected, acknowledged
        os.kill(broker.proc.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(DeliveryError, match=r"acknowledge|timed out"):
                await sender.send(_message(broker.port, "t", qos, 1.0))
            assert time.monotonic() - started < 3
        finally:
            os.kill(broker.proc.pid, signal.SIGCONT)
        await sender.send(_message(broker.port, "t", qos, 5.0))  # a fresh connection works
        await sender.close()


async def test_qos_0_is_at_most_once() -> None:
    """Asked for explicitly, QoS 0 counts a PUBLISH written to the socket as sent: the same
    silent broker that fails a QoS 1 send lets a QoS 0 send through (the documented cost)."""
    sender = MqttSender(EgressPolicy(enforce=False))
    async with private_mosquitto() as broker:
        assert broker.proc is not None
        await sender.send(_message(broker.port, "t", "0", 2.0))
        os.kill(broker.proc.pid, signal.SIGSTOP)
        try:
            await sender.send(_message(broker.port, "t", "0", 1.0))
        finally:
            os.kill(broker.proc.pid, signal.SIGCONT)
        await sender.close()


async def test_a_dropped_connection_fails_the_waiting_publish_at_once() -> None:
    """A broker that goes away while a QoS 1 PUBLISH waits for its PUBACK fails it when the
    connection drops, long before its timeout."""
    sender = MqttSender(EgressPolicy(enforce=False))
    async with private_mosquitto() as broker:
        assert broker.proc is not None
        await sender.send(_message(broker.port, "t", None, 2.0))
        os.kill(broker.proc.pid, signal.SIGSTOP)
        waiting = asyncio.ensure_future(sender.send(_message(broker.port, "t", None, 30.0)))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        started = time.monotonic()
        broker.proc.kill()  # the socket closes: the publish can no longer be acknowledged
        broker.proc.wait(5)
        broker.proc = None
        with pytest.raises(DeliveryError, match=r"lost|[Dd]isconnect"):
            await waiting
        assert time.monotonic() - started < 5
        await broker.start()
        await sender.send(_message(broker.port, "t", None, 5.0))  # reconnects by itself
        await sender.close()


@pytest.mark.parametrize(("value", "status"), [("0", 201), ("1", 201), ("2", 201),
                                               ("3", 400), ("one", 400), (" 1", 400)])
async def test_mqtt_qos_is_checked_when_subscribing(client: TestClient, value: str,
                                                    status: int) -> None:
    body = {"type": "Subscription", "entities": [{"type": "WeatherObserved"}],
            "notification": {"endpoint": {
                "uri": "mqtt://127.0.0.1:1883/t",
                "notifierInfo": [{"key": "MQTT-QoS", "value": value}]}}}
    resp = await client.post(S, json=body, headers=JSON)
    assert resp.status == status, await resp.text()
