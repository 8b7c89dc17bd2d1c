"""``renkei org …`` and ``renkei dataset …`` as a user runs them (a subprocess on the same
PostgreSQL as a running hub): JSON out, refusals on stderr with status 2 and nothing
changed, and a change the CLI makes reaches the running hub through LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from aiohttp.test_utils import TestClient

from tests.conftest import CATCH_ALL, TEST_PREFECTURE
from tests.integration.helpers import JSON
from tests.integration.registry_helpers import HUB, REG, gauge

ROOT = Path(__file__).resolve().parents[2]


async def renkei(url: str, *args: str) -> tuple[int, Any, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub", *args, cwd=ROOT,
        env={**os.environ, "RENKEI_DATABASE_URL": url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, orjson.loads(out) if out.strip() else None, err.decode()


async def test_org_commands(client: TestClient, database_url: str) -> None:
    code, org, _ = await renkei(database_url, "org", "create", "202011", "--name-ja", "長野市",
                                "--name-en", "Nagano City")
    assert code == 0 and org["kind"] == "municipality" and org["name"]["en"] == "Nagano City"
    code, _, err = await renkei(database_url, "org", "create", "202012", "--name-ja", "誤り")
    assert code == 2 and "check digit" in err
    code, _, err = await renkei(database_url, "org", "create", "202011", "--name-ja", "長野市")
    assert code == 2 and "already registered" in err
    code, orgs, _ = await renkei(database_url, "org", "list")
    assert [o["id"] for o in orgs] == [TEST_PREFECTURE, "202011"]
    code, shown, _ = await renkei(database_url, "org", "show", "202011")
    assert code == 0 and shown["name"]["ja"] == "長野市"
    code, _, err = await renkei(database_url, "org", "delete", TEST_PREFECTURE)
    assert code == 2 and CATCH_ALL in err  # it owns the catch-all
    code, _, _ = await renkei(database_url, "org", "delete", "202011")
    assert code == 0
    code, _, err = await renkei(database_url, "org", "show", "202011")
    assert code == 2 and "not registered" in err


async def test_dataset_commands_reach_a_running_hub(client: TestClient,
                                                    database_url: str) -> None:
    eid = "urn:ngsi-ld:WeatherObserved:nagano-cli-1"
    code, _, _ = await renkei(database_url, "dataset", "delete", CATCH_ALL)
    assert code == 0
    await _until(client, eid, 400)  # the running hub saw the catch-all go
    assert (await renkei(database_url, "org", "create", "202011", "--name-ja", "長野市"))[0] == 0
    code, ds, err = await renkei(
        database_url, "dataset", "create", "nagano-rain", "--owner", "202011",
        "--name-ja", "長野市 雨量計", "--type", "RainGauge",
        "--id-prefix", "urn:ngsi-ld:WeatherObserved:nagano-", "--licence", "CC-BY-4.0",
        "--open-data", "--frequency", "hourly", "--contract", "WeatherObserved")
    assert code == 0, err
    assert ds["rule"]["entityTypes"] == ["https://uri.etsi.org/ngsi-ld/default-context/"
                                         "RainGauge"]
    await _until(client, eid, 201)  # …and the new dataset, without a restart
    code, _, err = await renkei(database_url, "dataset", "create", "sandbox", "--owner",
                                "202011", "--catch-all")
    assert code == 2 and "overlaps" in err and "nagano-rain" in err
    code, _, err = await renkei(database_url, "dataset", "delete", "nagano-rain")
    assert code == 2 and "owns 1 entities" in err
    code, listed, _ = await renkei(database_url, "dataset", "list", "--owner", "202011")
    assert [d["id"] for d in listed] == ["default-202011", "nagano-rain"]
    code, shown, _ = await renkei(database_url, "dataset", "show", "nagano-rain")
    assert shown["openData"] is True and shown["contracts"] == ["WeatherObserved"]
    resp = await client.get(f"{REG}/datasets/nagano-rain")
    assert (await resp.json())["id"] == "nagano-rain"


async def _until(client: TestClient, eid: str, status: int) -> None:
    """Write ``eid`` until the hub answers ``status`` (the NOTIFY is asynchronous)."""
    deadline = time.monotonic() + 5
    while True:
        resp = await client.post(f"{HUB}/entities", headers=JSON, json=gauge(eid))
        if resp.status == status or time.monotonic() > deadline:
            assert resp.status == status, await resp.text()
            return
        await asyncio.sleep(0.05)


async def test_dataset_history_mode_from_the_command_line(client: TestClient,
                                                          database_url: str) -> None:
    """``--history-mode every`` reaches the registry (the conformance set-up uses it); a
    mode the registry does not know is refused by argparse before anything is written."""
    assert (await renkei(database_url, "dataset", "delete", CATCH_ALL))[0] == 0
    code, ds, err = await renkei(database_url, "dataset", "create", "everything", "--owner",
                                 TEST_PREFECTURE, "--catch-all", "--history-mode", "every")
    assert code == 0, err
    assert ds["historyMode"] == "every"
    code, _, err = await renkei(database_url, "dataset", "create", "other", "--owner",
                                TEST_PREFECTURE, "--type", "X", "--history-mode", "always")
    assert code == 2 and "history-mode" in err
    code, listed, _ = await renkei(database_url, "dataset", "list", "--owner", TEST_PREFECTURE)
    assert "other" not in [d["id"] for d in listed]
