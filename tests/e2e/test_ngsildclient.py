"""The published Python client ``ngsildclient`` 0.5.2 against real hub processes (issue #14).

An off-the-shelf NGSI-LD client must work with no registry step: once against the quick
start's playground (development mode with the sample data, as ``python3 dev.py serve``
runs it) and once with access control enforced and a client-credentials token, its writes
landing in the organisation's default dataset. The library pins httpx<0.24, rich<13 and
more, which clash with the project's venv, so it gets a venv of its own, made once under
``.renkei/clients/`` (git-ignored) and reused; ngsildclient_script.py runs in it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.sdk.auth import client_credentials_token
from tests.conftest import reset_database
from tests.hubproc import HubProcess, free_port, start_hub

ROOT = Path(__file__).resolve().parents[2]
VERSION = "0.5.2"
VENV = ROOT / ".renkei" / "clients" / f"ngsildclient-{VERSION}"
SCRIPT = Path(__file__).with_name("ngsildclient_script.py")
PLAYGROUND_ORG = "200000"  # 長野県, the demo prefecture and operator of the playground


@pytest.fixture(scope="session")
def ngsildclient_python() -> Path:
    """The interpreter of a venv holding ngsildclient; made on first use, then cached.

    A venv that cannot be made FAILS the test with pip's output: the point of the test is
    that this client works, so its absence is not a reason to pass quietly."""
    python = VENV / "bin" / "python"
    check = [str(python), "-c", f"import ngsildclient; assert ngsildclient.__version__ == "
             f"'{VERSION}'"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    steps = [[sys.executable, "-m", "venv", "--clear", str(VENV)],
             [str(python), "-m", "pip", "install", "--disable-pip-version-check",
              f"ngsildclient=={VERSION}"], check]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            pytest.fail(f"could not make the ngsildclient venv ({' '.join(step)}):\n"
                        f"{done.stdout}\n{done.stderr}")
    return python


def _run_script(python: Path, hub: HubProcess, notify: str, token: str | None) -> dict[str, Any]:
    host, port = hub.base.removeprefix("http://").rsplit(":", 1)
    tag = uuid.uuid4().hex[:8]
    args = [str(python), str(SCRIPT), host, port, notify, tag, *([token] if token else [])]
    done = subprocess.run(args, capture_output=True, text=True, timeout=180, cwd=ROOT)
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines, done.stdout + done.stderr
    out: dict[str, Any] = json.loads(lines[-1])
    assert "error" not in out, f"{out.get('error_body')}\n{out.get('traceback') or out}"
    out["tag"] = tag
    return out


def _assert_round_trip(out: dict[str, Any]) -> None:
    """What the library read back: the whole create / batch / query / temporal cycle."""
    tag = out["tag"]
    etype = f"ClientProbe{tag}"
    assert out["id"] == f"urn:ngsi-ld:{etype}:{tag}-1"
    assert out["created"] is True and out["retrieved"] == 21.5
    # no rule covers it: the playground's / the writer's default dataset (docs/registry.md)
    assert out["dataset"] == f"urn:ngsi-ld:Dataset:default-{PLAYGROUND_ORG}"
    assert out["batch_upsert"] == {"ok": 3, "errors": 0}
    assert out["count_type"] == 4
    # temperature>25: the batch's 30.0 and 40.0, not 21.5 nor 20.0
    assert out["query_warm"] == [f"urn:ngsi-ld:{etype}:{tag}-3", f"urn:ngsi-ld:{etype}:{tag}-4"]
    assert out["batch_update"] == 1 and out["after_update"] == 23.0
    assert out["subscription"] in out["subscription_listed"]
    history = out["temporal_get"]["temperature"]["values"]  # simplified (temporalValues)
    assert [v[0] for v in history] == [21.5, 23.0]
    last = out["temporal_lastn"]  # one entity's temporal representation
    assert last["id"] == out["id"] and [v[0] for v in last["temperature"]["values"]] == [23.0]
    # temporal.query() sends options=count on every call: accepted as count=true, the
    # legacy spelling (docs/conformance.md "Spellings accepted"); its lastN=1 holds
    queried = out["temporal_query"]
    assert [(e["id"], [v[0] for v in e["temperature"]["values"]])
            for e in queried.get("result", [])] == [(out["id"], [23.0])], queried
    # ngsildclient's own fault (docs/conformance.md "Clients tried"): temporal.alt.query()
    # raises NameError before reading the hub's answer
    assert "NameError" in out["temporal_alt_query"]["error"], out["temporal_alt_query"]
    assert out["batch_delete"] == 4 and out["count_after_delete"] == 0


async def _get_subscription(base: str, sid: str, token: str | None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session, session.get(
            f"{base}/ngsi-ld/v1/subscriptions", headers=headers) as listed:
        body = await listed.json()
        found = [s for s in body if s.get("id") == sid] if listed.status == 200 else body
        return listed.status, found


async def _token(base: str, client: dict[str, Any]) -> str:
    """A client-credentials token, the way an adapter gets one (adapters/sdk/auth.py)."""
    async with aiohttp.ClientSession() as session:
        return await client_credentials_token(session, base, client["client_id"],
                                              client["client_secret"])


@pytest.fixture
def playground(database_url: str) -> Iterator[HubProcess]:
    asyncio.run(reset_database(database_url))
    # as `python3 dev.py serve`: sample data, development mode, 長野県 the operator
    hub = start_hub(database_url, sample_data="true", operator_organisations=PLAYGROUND_ORG)
    yield hub
    assert hub.stop() == 0, hub.output()


@pytest.mark.e2e
def test_ngsildclient_in_the_quick_start_playground(ngsildclient_python: Path,
                                                     playground: HubProcess) -> None:
    out = _run_script(ngsildclient_python, playground, "http://127.0.0.1:9/notify", None)
    _assert_round_trip(out)
    status, found = asyncio.run(_get_subscription(playground.base, out["subscription"], None))
    assert status == 200 and len(found) == 1, found
    assert found[0]["notification"]["endpoint"]["uri"] == "http://127.0.0.1:9/notify"


@pytest.mark.e2e
def test_ngsildclient_with_a_token_when_access_control_is_enforced(
        ngsildclient_python: Path, database_url: str) -> None:
    asyncio.run(reset_database(database_url))
    receiver = free_port()  # nothing listens: only the subscription's acceptance matters
    hub = start_hub(database_url, sample_data="true", auth_mode="enforce",
                    operator_organisations=PLAYGROUND_ORG,
                    egress_allow=f"127.0.0.1:{receiver}")
    try:
        env = {**os.environ, "RENKEI_DATABASE_URL": database_url}
        made = subprocess.run(
            [sys.executable, "-m", "hub", "client", "create", "--org", PLAYGROUND_ORG,
             "--name", "ngsildclient", "--scopes", "read,write,subscribe"],
            capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
        assert made.returncode == 0, made.stdout + made.stderr
        token = asyncio.run(_token(hub.base, json.loads(made.stdout)))
        notify = f"http://127.0.0.1:{receiver}/notify"

        # without the token the library cannot even connect: it probes GET /entities
        host, port = hub.base.removeprefix("http://").rsplit(":", 1)
        refused = subprocess.run([str(ngsildclient_python), str(SCRIPT), host, port, notify,
                                  "anon"], capture_output=True, text=True, timeout=120)
        assert "401" in refused.stdout + refused.stderr, refused.stdout + refused.stderr

        out = _run_script(ngsildclient_python, hub, notify, token)
        _assert_round_trip(out)
        status, found = asyncio.run(_get_subscription(hub.base, out["subscription"], token))
        assert status == 200 and len(found) == 1, found
        status, body = asyncio.run(_get_subscription(hub.base, out["subscription"], None))
        assert status == 401, body
    finally:
        assert hub.stop() == 0, hub.output()
