"""Run ``renkei serve`` as a real child process, as a user or an operator would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HubProcess", "free_port", "start_hub"]

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


def start_hub(database_url: str, **settings: str) -> HubProcess:
    """Start a hub on a free port with ``RENKEI_<NAME>`` settings; wait until it answers."""
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
            return HubProcess(proc, base)
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stdout.read() if proc.stdout else "hub died") from None
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the hub did not answer within 15 s")
