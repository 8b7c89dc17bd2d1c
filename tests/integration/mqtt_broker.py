"""Find or start a real MQTT broker for notification tests.

In order: the machine's Mosquitto on 127.0.0.1:1883; a ``mosquitto`` binary started on a free
port; the pure-Python amqtt broker (a test dependency) started in-process. A fresh machine
with only Python therefore still runs the MQTT tests against a real broker over TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

__all__ = ["mqtt_broker_port"]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _wait_listening(port: int) -> None:
    for _ in range(100):
        if _listening(port):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"MQTT broker did not start on port {port}")


def _mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    return found or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)


def _start_mosquitto(binary: str, port: int, tmp: Path) -> subprocess.Popen[bytes]:
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    return subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


@asynccontextmanager
async def mqtt_broker_port(*, machine: bool = True, binary: bool = True
                           ) -> AsyncIterator[int]:
    """``machine``/``binary`` False skip those choices (tests cover every fallback)."""
    if machine and _listening(1883):
        yield 1883
        return
    port = _free_port()
    found = _mosquitto()
    if binary and found:
        with tempfile.TemporaryDirectory() as tmp:
            proc = _start_mosquitto(found, port, Path(tmp))
            try:
                await _wait_listening(port)
                yield port
            finally:
                proc.terminate()
                proc.wait(5)
        return
    from amqtt.broker import Broker

    broker = Broker({"listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
                     "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin":
                                 {"allow_anonymous": True}}})
    await broker.start()
    try:
        await _wait_listening(port)
        yield port
    finally:
        with contextlib.suppress(Exception):
            await broker.shutdown()
