"""The README's walk-through, run as written against a real `renkei serve` process.

Starts the CLI in a subprocess (settings from the environment, as a user would), runs every
shell block of the walk-through with curl, and checks the answers. Then stops the hub with
SIGTERM and expects a clean exit: graceful shutdown is part of the promise.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import reset_database

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def hub(database_url: str) -> Iterator[str]:
    asyncio.run(reset_database(database_url))
    port = _free_port()
    env = {**os.environ, "RENKEI_DATABASE_URL": database_url, "RENKEI_PORT": str(port),
           "RENKEI_LOG_FORMAT": "text"}
    proc = subprocess.Popen([sys.executable, "-m", "hub", "serve"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            urllib.request.urlopen(base + "/ngsi-ld/v1/types", timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stdout.read() if proc.stdout else "hub died") from None
            time.sleep(0.1)
    yield base
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0, proc.stdout.read() if proc.stdout else ""


def _walkthrough_script(base: str) -> str:
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("## Walk-through", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    assert blocks, "the README walk-through has no shell blocks"
    return "set -euo pipefail\n" + "\n".join(blocks).replace("http://127.0.0.1:1026", base)


@pytest.mark.e2e
def test_readme_walkthrough_runs_as_written(hub: str) -> None:
    if shutil.which("curl") is None:
        pytest.fail("curl is needed to run the README walk-through (apt-get install curl)")
    out = subprocess.run(["bash", "-c", _walkthrough_script(hub)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    assert "201 Created" in text  # the create
    assert '"precipitation":12.5' in text  # keyValues retrieve
    assert "204 No Content" in text  # merge-patch, delete
    assert "WeatherObserved" in text and "EntityTypeList" in text
    assert "urn:ngsi-ld:WeatherObserved:nagano-city-hall" in text
    assert "https://uri.etsi.org/ngsi-ld/errors/" not in text, text  # no error anywhere
