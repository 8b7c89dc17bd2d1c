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
version from ``notifierInfo`` (``MQTT-QoS``, ``MQTT-Version``). QoS is 1 unless the
subscription asks for another: a QoS 1 or 2 ``PUBLISH`` counts as delivered only once the
broker acknowledged it (``PUBACK`` / ``PUBCOMP``), so a broker that restarts mid-stream
fails the deliveries it never acknowledged and they are retried (at least once; receivers
de-duplicate by notification id). QoS 0 is at most once: it counts as delivered when
written to the socket, and a broker restart loses what it had not forwarded. MQTT
connections are kept per broker and re-opened after a failure; a dropped connection fails
the deliveries waiting on it at once (not after their timeout), and they are retried like
any other failure.
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

__all__ = ["DEFAULT_MQTT_QOS", "DeliveryError", "Message", "MqttSender", "mqtt_qos",
           "send_http"]

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


#: QoS when ``notifierInfo`` names none: at least once (GS CIM 009 leaves the default to
#: the broker; at most once lost notifications on every broker restart)
DEFAULT_MQTT_QOS = 1


def mqtt_qos(notifier_info: dict[str, str]) -> int:
    """The QoS a subscription asked for (``MQTT-QoS``), 1 when it named none."""
    raw = notifier_info.get("MQTT-QoS")
    if raw is None:
        return DEFAULT_MQTT_QOS
    if raw not in ("0", "1", "2"):
        raise DeliveryError(f"MQTT-QoS {raw!r} is not 0, 1 or 2")
    return int(raw)


def _dropped(client: Any) -> asyncio.Future[None]:
    """The future aiomqtt resolves when the client's connection ends.

    aiomqtt has no public hook for it; without it a publish waiting for its ``PUBACK``
    on a connection the broker closed would only fail when its timeout passes."""
    fut = getattr(client, "_disconnected", None)
    if not isinstance(fut, asyncio.Future):
        raise TypeError("this aiomqtt version does not expose its disconnection future")
    return fut


async def _acknowledged(client: Any, topic: str, payload: bytes, qos: int,
                        seconds: float) -> None:
    """Publish and return once the broker acknowledged it (QoS 1 ``PUBACK``, QoS 2
    ``PUBCOMP``; QoS 0: once written); raise when the connection drops or time runs out
    first, since then the broker may never have taken the message."""
    publish = asyncio.ensure_future(client.publish(topic, payload, qos=qos, timeout=seconds))
    dropped = _dropped(client)
    try:
        done, _ = await asyncio.wait({publish, dropped}, timeout=seconds,
                                     return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not publish.done():
            publish.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await publish
    if publish in done:
        publish.result()  # the publish's own error, if any
        return
    if dropped in done:
        raise DeliveryError("connection to the broker lost before it acknowledged the PUBLISH")
    raise DeliveryError(f"no acknowledgement from the broker within {seconds:g} s")


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
            client = self._clients[key][0]
            if not _dropped(client).done():
                return client
            await self._drop(key)  # the broker went away since: connect afresh
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
        qos = mqtt_qos(msg.notifier_info)
        version = msg.notifier_info.get("MQTT-Version", "mqtt3.1.1")
        envelope = {"metadata": {**msg.headers, "Content-Type": msg.content_type},
                    "body": msg.body}
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                client = await self._client(key, unquote(parts.password or "") or None,
                                            version, msg.timeout)
            await _acknowledged(client, topic, orjson.dumps(envelope), qos, msg.timeout)
        except Exception as exc:
            await self._drop(key)
            raise DeliveryError(f"MQTT {type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        for key in list(self._clients):
            await self._drop(key)
