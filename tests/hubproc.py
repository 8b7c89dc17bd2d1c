"""Run ``renkei serve`` as a real child process, as a user or an operator would."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HubProcess", "free_port", "register_catch_all", "start_hub"]

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class HubProcess:
    proc: subprocess.Popen[str]
    base: str

    def stop(self) -> int:
        """SIGTERM, then the exit code (graceful shutdown answers 0)."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=20)

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up, as in a crash."""
        self.proc.kill()
        self.proc.wait(timeout=10)

    def output(self) -> str:
        return self.proc.stdout.read() if self.proc.stdout else ""


def register_catch_all(database_url: str) -> None:
    """The test prefecture's catch-all dataset, as the ``client`` fixture registers it, so
    a hub process accepts arbitrary entities. Runs on its own event loop in a thread, so
    async tests can call it too."""
    from hub.db.pool import create_pool
    from registry import RegistryRepository
    from registry.service import ensure_catch_all
    from tests.conftest import CATCH_ALL, TEST_PREFECTURE

    async def register() -> None:
        pool = await create_pool(database_url, 1, 1)
        try:
            await ensure_catch_all(RegistryRepository(pool), TEST_PREFECTURE, CATCH_ALL,
                                   "テスト県")
        finally:
            await pool.close()

    worker = threading.Thread(target=lambda: asyncio.run(register()))
    worker.start()
    worker.join()


def start_hub(database_url: str, **settings: str) -> HubProcess:
    """Start a hub on a free port with ``RENKEI_<NAME>`` settings; wait until it answers.

    Unless it loads the sample data (whose registry it then uses), the test prefecture's
    catch-all dataset is registered, so the hub accepts any entity (docs/registry.md)."""
    port = free_port()
    env = {**os.environ, "RENKEI_DATABASE_URL": database_url, "RENKEI_PORT": str(port),
           "RENKEI_LOG_FORMAT": "text",
           # NGSI-LD behaviour tests run as dev.py serve does; pass auth_mode="enforce"
           # to test a process with access control on
           "RENKEI_AUTH_MODE": "dev",
           **{f"RENKEI_{k.upper()}": v for k, v in settings.items()}}
    proc = subprocess.Popen([sys.executable, "-m", "hub", "serve"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            urllib.request.urlopen(base + "/ngsi-ld/v1/types", timeout=1)
            if settings.get("sample_data") != "true":
                register_catch_all(database_url)  # after start-up: the tables exist
            return HubProcess(proc, base)
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stdout.read() if proc.stdout else "hub died") from None
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the hub did not answer within 15 s")
