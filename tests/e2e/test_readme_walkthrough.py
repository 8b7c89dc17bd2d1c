"""The README's walk-through, run as written against a real `renkei serve` process.

Starts the CLI in a subprocess (settings from the environment, as a user would), runs every
shell block of the walk-through with curl, and checks the answers. Then stops the hub with
SIGTERM and expects a clean exit: graceful shutdown is part of the promise.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import reset_database
from tests.hubproc import start_hub

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def hub(database_url: str) -> Iterator[str]:
    asyncio.run(reset_database(database_url))
    # as `python3 dev.py serve` does: the sample registry owns the walk-through's entities
    proc = start_hub(database_url, sample_data="true")
    yield proc.base
    assert proc.stop() == 0, proc.output()


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
    assert '"name":"飯田"' in text and '"temperature":29.1' in text  # real AMeDAS readings
    assert '"type":"Subscription"' in text and "precipitation>30" in text  # listed
    assert "https://uri.etsi.org/ngsi-ld/errors/" not in text, text  # no error anywhere
