"""Find or start a real MQTT broker for notification tests.

In order: the machine's Mosquitto on 127.0.0.1:1883; a ``mosquitto`` binary started on a free
port; the pure-Python amqtt broker (a test dependency) started in-process. A fresh machine
with only Python therefore still runs the MQTT tests against a real broker over TCP.

``private_mosquitto`` is a Mosquitto of the test's own that it can stop and start again on
the same port (fault injection: tests/reliability/). It keeps persistent sessions on disk,
so a subscriber that connected with ``clean_session=False`` finds its subscription and the
QoS 1 messages queued for it after a restart, as with a production broker.
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

__all__ = ["PrivateMosquitto", "mqtt_broker_port", "private_mosquitto"]


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


def _start_mosquitto(binary: str, port: int, tmp: Path, extra: str = ""
                     ) -> subprocess.Popen[bytes]:
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n{extra}")
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


class PrivateMosquitto:
    """A Mosquitto process on a fixed port that a test stops and starts at will."""

    def __init__(self, binary: str, port: int, directory: Path) -> None:
        self.binary, self.port, self.directory = binary, port, directory
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        # persistence: sessions and queued QoS 1/2 messages survive a restart (written on a
        # clean stop, and every second); no cap on a waiting subscriber's queue
        store = directory / "persistence"
        store.mkdir(exist_ok=True)
        # started as root, mosquitto drops to its own user, which must reach and write it
        directory.chmod(0o755)
        store.chmod(0o777)
        self._extra = (f"persistence true\npersistence_location {store}/\n"
                       "autosave_interval 1\nmax_queued_messages 0\n")

    async def start(self) -> None:
        self.proc = _start_mosquitto(self.binary, self.port, self.directory, self._extra)
        await _wait_listening(self.port)

    def stop(self, *, kill: bool = False) -> None:
        """``kill``: SIGKILL (a crash, unsaved state lost); else SIGTERM (a restart)."""
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        self.proc.wait(10)
        self.proc = None

    async def restart(self, *, kill: bool = False, down_s: float = 0.5) -> None:
        self.stop(kill=kill)
        await asyncio.sleep(down_s)
        await self.start()
        self.restarts += 1


@asynccontextmanager
async def private_mosquitto() -> AsyncIterator[PrivateMosquitto]:
    """Needs the ``mosquitto`` binary (apt ``mosquitto``): amqtt cannot restart with its
    sessions, so a missing binary fails loudly instead of testing something weaker."""
    found = _mosquitto()
    if not found:
        raise RuntimeError("the restart tests need the mosquitto binary (apt install mosquitto)")
    with tempfile.TemporaryDirectory() as tmp:
        broker = PrivateMosquitto(found, _free_port(), Path(tmp))
        await broker.start()
        try:
            yield broker
        finally:
            broker.stop()
