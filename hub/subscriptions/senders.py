"""Deliver one notification over HTTP(S) or MQTT (GS CIM 009 5.8.1 (HTTP binding 7.2),
the MQTT notification binding of annex / clause 7.3).

HTTP: ``POST`` to the endpoint URI; ``application/json`` carries the @context in a ``Link``
header, ``application/ld+json`` in the body; ``receiverInfo`` pairs become headers.
Both go through the egress policy (``hub/egress.py``): HTTP on the session's connector,
which checks the very address connected to; MQTT resolves the broker's name through the
policy and connects to the checked address (``mqtts`` connects by name after the check, so
that the broker's certificate is verified against it: a name re-pointed at an inside host
then fails the TLS handshake).
MQTT: one ``PUBLISH`` to the URI's path as topic, whose payload is ``{"metadata": {...},
"body": notification}`` with the would-be HTTP headers in ``metadata``; QoS and protocol
version from ``notifierInfo`` (``MQTT-QoS``, ``MQTT-Version``). MQTT connections are kept
per broker and re-opened after a failure; a dropped connection fails the delivery, which
is retried like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp
import orjson

from hub.egress import EgressPolicy

__all__ = ["DeliveryError", "Message", "MqttSender", "send_http"]

class DeliveryError(Exception):
    """The receiver did not take the notification (network error, timeout, non-2xx)."""


@dataclass(slots=True)
class Message:
    """A notification ready to send: the body, its media type and the headers."""

    uri: str
    body: dict[str, Any]
    content_type: str
    headers: dict[str, str]
    timeout: float
    notifier_info: dict[str, str]

    def encoded(self) -> bytes:
        return orjson.dumps(self.body)


async def send_http(session: aiohttp.ClientSession, msg: Message) -> int:
    """POST the notification; the HTTP status when it is 2xx, DeliveryError otherwise."""
    headers = {**msg.headers, "Content-Type": msg.content_type}
    try:
        async with session.post(msg.uri, data=msg.encoded(), headers=headers,
                                timeout=aiohttp.ClientTimeout(total=msg.timeout),
                                allow_redirects=False) as resp:
            # the status line decides; a receiver's body (if any) is not waited for, so a
            # success is recorded as soon as the receiver has answered
            if 200 <= resp.status < 300:
                resp.release()  # keeps the connection when the body is complete
                return resp.status
            raise DeliveryError(f"receiver answered HTTP {resp.status}")
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc


class MqttSender:
    """Keeps one client per broker (scheme, host, port, user) for the process.

    Without a policy the strictest one applies (enforcing, no exceptions): a sender that
    nobody configured refuses inside addresses rather than reaching them."""

    def __init__(self, policy: EgressPolicy | None = None) -> None:
        self.policy = policy or EgressPolicy(enforce=True)
        self._clients: dict[tuple[str, str, int, str | None], tuple[Any, AsyncExitStack]] = {}
        self._locks: dict[tuple[str, str, int, str | None], asyncio.Lock] = {}

    async def _client(self, key: tuple[str, str, int, str | None], password: str | None,
                      version: str, seconds: float) -> Any:
        import aiomqtt

        if key in self._clients:
            return self._clients[key][0]
        scheme, host, port, user = key
        addresses = await self.policy.resolve(host, port)  # EgressRefused: not delivered
        stack = AsyncExitStack()
        protocol = aiomqtt.ProtocolVersion.V5 if version == "mqtt5.0" else \
            aiomqtt.ProtocolVersion.V311
        client = aiomqtt.Client(
            hostname=host if scheme == "mqtts" else addresses[0], port=port,
            username=user, password=password,
            protocol=protocol, timeout=seconds,
            tls_context=ssl.create_default_context() if scheme == "mqtts" else None,
        )
        await stack.enter_async_context(client)
        self._clients[key] = (client, stack)
        return client

    async def _drop(self, key: tuple[str, str, int, str | None]) -> None:
        entry = self._clients.pop(key, None)
        if entry is not None:
            with contextlib.suppress(Exception):  # the connection is already broken
                await entry[1].aclose()

    async def send(self, msg: Message) -> None:
        parts = urlsplit(msg.uri)
        scheme = parts.scheme.lower()
        port = parts.port or (8883 if scheme == "mqtts" else 1883)
        key = (scheme, parts.hostname or "", port, unquote(parts.username or "") or None)
        topic = unquote(parts.path.lstrip("/"))
        if not topic:
            raise DeliveryError("an MQTT endpoint needs a topic in its path")
        qos = int(msg.notifier_info.get("MQTT-QoS", "0"))
        if qos not in (0, 1, 2):
            raise DeliveryError(f"MQTT-QoS {qos} is not 0, 1 or 2")
        version = msg.notifier_info.get("MQTT-Version", "mqtt3.1.1")
        envelope = {"metadata": {**msg.headers, "Content-Type": msg.content_type},
                    "body": msg.body}
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                client = await self._client(key, unquote(parts.password or "") or None,
                                            version, msg.timeout)
            await asyncio.wait_for(
                client.publish(topic, orjson.dumps(envelope), qos=qos), msg.timeout)
        except Exception as exc:
            await self._drop(key)
            raise DeliveryError(f"MQTT {type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        for key in list(self._clients):
            await self._drop(key)
