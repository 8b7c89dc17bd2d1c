"""The scheduled worker (adapters/worker.py) on a real hub and its real database: single
flight across workers, a killed worker, disabled registrations, run-now, back-off, secret
references, and ``renkei adapters schedule --run-due`` as one pass."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from adapters.worker import WorkerSettings, next_run, resolve_secrets, run_pass
from tests.adapters.replay_server import Replay
from tests.conftest import CATCH_ALL

ROOT = Path(__file__).parents[2]
LIBRARY = "/library/wakayama_pref_lib_main_h26_loan_top100_general.csv"
#: the branch is never a silent default: a registration names it
BRANCH = {"library": "wakayama-pref-main", "library_name": "和歌山県立図書館"}


@pytest.fixture
async def replay() -> AsyncIterator[Replay]:
    r = await Replay.with_samples().start()
    yield r
    await r.close()


@pytest.fixture
async def pool(client: TestClient, database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(database_url, min_size=1, max_size=3) as p:
        yield p


def _library(replay: Replay) -> dict[str, Any]:
    return {"source": replay.url(LIBRARY), "options": BRANCH}


def _settings(client: TestClient, database_url: str, tmp: Path, **kw: Any) -> WorkerSettings:
    return WorkerSettings(database_url=database_url, hub=str(client.make_url("")).rstrip("/"),
                          state_dir=tmp / "state", source_allow=("127.0.0.0/8",),
                          source_interval=0.0, jitter=0.0, secrets_dir=tmp / "secrets",
                          **kw)


async def _register(client: TestClient, reg_id: str, adapter: str, config: dict[str, Any],
                    *, schedule: str | None = "PT1H", enabled: bool = True) -> None:
    body = {"dataset": CATCH_ALL, "adapter": adapter, "config": config,
            "schedule": schedule, "enabled": enabled}
    resp = await client.put(f"/registry/v1/adapters/{reg_id}", json=body)
    assert resp.status in (200, 201), await resp.text()


async def _runs(pool: asyncpg.Pool) -> dict[str, list[asyncpg.Record]]:
    out: dict[str, list[asyncpg.Record]] = {}
    for r in await pool.fetch("SELECT * FROM registry.adapter_runs ORDER BY id"):
        out.setdefault(r["adapter_id"], []).append(r)
    return out


async def _count(client: TestClient, etype: str) -> int:
    from contracts import LINK_HEADER

    resp = await client.get("/ngsi-ld/v1/entities", headers={"Link": LINK_HEADER},
                            params={"type": etype, "count": "true", "limit": "0"})
    assert resp.status == 200, await resp.text()
    return int(resp.headers["NGSILD-Results-Count"])


async def test_two_workers_run_each_due_registration_exactly_once(
        client: TestClient, database_url: str, replay: Replay, tmp_path: Path) -> None:
    await _register(client, "nagano-amedas", "jma-amedas",
                    {"base_url": replay.url("/bosai/amedas"), "options": {"prefecture": "48"}},
                    schedule="PT10M")
    await _register(client, "wakayama-loans", "library-loans",
                    _library(replay), schedule="0 6 * * *")
    await _register(client, "traffic", "jartic-traffic",
                    {"base_url": replay.url("/opentraffic"), "start": "202505120805"},
                    schedule="PT5M")
    settings = _settings(client, database_url, tmp_path)
    async with asyncpg.create_pool(database_url, min_size=1, max_size=2) as p1, \
            asyncpg.create_pool(database_url, min_size=1, max_size=2) as p2:
        first, second = await asyncio.gather(run_pass(settings, p1), run_pass(settings, p2))
        ran = [r.registration for r in [*first, *second] if r.outcome == "ran"]
        assert sorted(ran) == ["nagano-amedas", "traffic", "wakayama-loans"]
        runs = await _runs(p1)
        assert {k: len(v) for k, v in runs.items()} == {
            "nagano-amedas": 1, "traffic": 1, "wakayama-loans": 1}
        assert all(v[0]["status"] == "succeeded" for v in runs.values()), runs
        # a third pass finds nothing due: each has its next time
        assert await run_pass(settings, p1) == []
        rows = {r["id"]: r for r in await p1.fetch("SELECT * FROM registry.adapters")}
    now = datetime.now(UTC)
    assert timedelta(minutes=9) < rows["nagano-amedas"]["next_run_at"] - now <= \
        timedelta(minutes=10)
    six_jst = rows["wakayama-loans"]["next_run_at"].astimezone(
        datetime.fromisoformat("2025-01-01T00:00:00+09:00").tzinfo)
    assert (six_jst.hour, six_jst.minute) == (6, 0)
    assert await _count(client, "WeatherObserved") > 0
    assert await _count(client, "LibraryLoanRanking") > 0
    assert await _count(client, "TrafficFlowObserved") > 0
    assert all(q.user_agent == settings.user_agent for q in replay.requests)


async def test_a_worker_killed_mid_run_leaves_the_registration_runnable(
        client: TestClient, database_url: str, pool: asyncpg.Pool, replay: Replay,
        tmp_path: Path) -> None:
    await _register(client, "wakayama-loans", "library-loans",
                    _library(replay))
    replay.mode, replay.delay = "slow", 60.0
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.cli", "worker", "--once", "--database-url",
        database_url, "--hub", str(client.make_url("")).rstrip("/"), "--source-allow",
        "127.0.0.0/8", "--state-dir", str(tmp_path / "state"), cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        for _ in range(300):
            if replay.arrived:
                break
            await asyncio.sleep(0.05)
        assert replay.arrived, "the worker never reached the source"
        # the other worker sees it held
        busy = await run_pass(_settings(client, database_url, tmp_path), pool)
        assert [r.outcome for r in busy] == ["busy"]
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
    replay.mode = "ok"
    settings = _settings(client, database_url, tmp_path)
    for _ in range(50):  # PostgreSQL ends the dead worker's session, and its lock, shortly
        results = await run_pass(settings, pool)
        if results and results[0].outcome == "ran":
            break
        await asyncio.sleep(0.1)
    assert [(r.registration, r.outcome) for r in results] == [("wakayama-loans", "ran")]
    runs = await _runs(pool)
    assert [r["status"] for r in runs["wakayama-loans"]] == ["succeeded"]


async def test_a_disabled_registration_does_not_run(
        client: TestClient, database_url: str, pool: asyncpg.Pool, replay: Replay,
        tmp_path: Path) -> None:
    await _register(client, "off", "library-loans", _library(replay),
                    schedule="PT10M", enabled=False)
    resp = await client.post("/registry/v1/adapters/off/run-now")
    assert resp.status == 400 and "disabled" in (await resp.json())["detail"]
    assert await run_pass(_settings(client, database_url, tmp_path), pool) == []
    assert await _runs(pool) == {} and replay.requests == []


async def test_run_now_makes_a_registration_due_once(
        client: TestClient, database_url: str, pool: asyncpg.Pool, replay: Replay,
        tmp_path: Path) -> None:
    await _register(client, "loans", "library-loans", _library(replay),
                    schedule=None)
    settings = _settings(client, database_url, tmp_path)
    assert await run_pass(settings, pool) == []  # no schedule: manual only
    resp = await client.post("/registry/v1/adapters/loans/run-now")
    assert resp.status == 202, await resp.text()
    assert (await resp.json())["id"] == "loans"
    assert [r.outcome for r in await run_pass(settings, pool)] == ["ran"]
    assert await run_pass(settings, pool) == []
    assert (await client.post("/registry/v1/adapters/nope/run-now")).status == 404
    # giving it a schedule makes it due at once; the same schedule put again does not
    await _register(client, "loans", "library-loans", _library(replay), schedule="PT1H")
    assert [r.outcome for r in await run_pass(settings, pool)] == ["ran"]
    await _register(client, "loans", "library-loans", _library(replay), schedule="PT1H")
    assert await run_pass(settings, pool) == []
    # a second request: the file did not change (304), the run records nothing new
    await client.post("/registry/v1/adapters/loans/run-now")
    again = await run_pass(settings, pool)
    assert again[0].report is not None and again[0].report.read == 0
    assert [r["status"] for r in (await _runs(pool))["loans"]] == ["succeeded"] * 3


async def test_a_failing_source_backs_off_and_recovers(
        client: TestClient, database_url: str, pool: asyncpg.Pool, replay: Replay,
        tmp_path: Path) -> None:
    await _register(client, "loans", "library-loans",  # options as top-level keys too
                    {"source": replay.url(LIBRARY), **BRANCH}, schedule="PT5M")
    replay.mode = "error"
    settings = _settings(client, database_url, tmp_path, backoff=600.0)
    [res] = await run_pass(settings, pool)
    assert res.report is not None and res.report.status == "failed"
    assert "answered 503" in (res.report.error or "")
    row = await pool.fetchrow("SELECT * FROM registry.adapters WHERE id = 'loans'")
    assert row["failures"] == 1
    assert row["next_run_at"] - datetime.now(UTC) > timedelta(minutes=9)  # not 5 min
    # the registry API shows the worker's own plan: backing off until that time
    shown = await (await client.get("/registry/v1/adapters/loans")).json()
    assert shown["consecutiveFailures"] == 1 and shown["nextRunReason"] == "backing-off"
    assert datetime.fromisoformat(shown["backoffUntil"]) == row["next_run_at"]
    assert shown["nextRunAt"] == shown["backoffUntil"]
    assert shown["lastRun"]["status"] == "failed"
    assert await run_pass(settings, pool) == []  # and the worker agrees: not due
    run = (await _runs(pool))["loans"][0]
    assert run["status"] == "failed" and "503" in json.loads(run["errors"])[0]
    replay.mode = "ok"
    await client.post("/registry/v1/adapters/loans/run-now")
    [ok] = await run_pass(settings, pool)
    assert ok.report is not None and ok.report.status == "succeeded" and ok.report.written
    row = await pool.fetchrow("SELECT * FROM registry.adapters WHERE id = 'loans'")
    assert row["failures"] == 0 and row["run_requested_at"] is None
    shown = await (await client.get("/registry/v1/adapters")).json()
    assert [(a["id"], a["consecutiveFailures"], a["nextRunReason"], a["lastRun"]["status"])
            for a in shown] == [("loans", 0, "scheduled", "succeeded")]
    assert datetime.fromisoformat(shown[0]["nextRunAt"]) == row["next_run_at"]
    assert "backoffUntil" not in shown[0]


async def test_secrets_must_be_references_to_allowed_names(
        client: TestClient, database_url: str, pool: asyncpg.Pool, replay: Replay,
        tmp_path: Path) -> None:
    settings = _settings(client, database_url, tmp_path)
    cases = {
        "plain": ("s3cr3t", "must be a reference"),
        "db-url": ({"env": "RENKEI_WORKER_DATABASE_URL"}, "not allowed as a secret"),
        "unset": ({"env": "NOT_SET_ANYWHERE_TOKEN"}, "is not set on the worker"),
        "escape": ({"file": "../../etc/passwd"}, "plain name"),
    }
    for reg_id, (token, _) in cases.items():
        await _register(client, reg_id, "library-loans",
                        {"source": replay.url(LIBRARY), "options": BRANCH, "token": token})
    results = {r.registration: r for r in await run_pass(settings, pool)}
    for reg_id, (_, message) in cases.items():
        report = results[reg_id].report
        assert report is not None and report.status == "failed"
        assert message in (report.error or ""), report.error
    assert replay.requests == []  # refused before any source was fetched
    # options naming files or URLs would be read past the source policy: refused
    for reg_id, options in (("opt-path", {"stations": "amedastable.json"}),
                            ("opt-url", {"prefecture": "http://169.254.169.254/x"})):
        await _register(client, reg_id, "jma-amedas",
                        {"base_url": replay.url("/bosai/amedas"), "options": options})
    refused = {r.registration: r.report for r in await run_pass(settings, pool)}
    for reg_id in ("opt-path", "opt-url"):
        report = refused[reg_id]
        assert report is not None and "may not name files or URLs" in (report.error or "")
    assert replay.requests == []
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "nagano_token").write_text("from-file\n")
    os.environ["NAGANO_TOKEN"] = "from-env"
    try:
        resolved = resolve_secrets({"token": {"env": "NAGANO_TOKEN"}, "auth": {
            "client_secret": {"file": "nagano_token"}, "client_id": "c1"}},
            tmp_path / "secrets")
    finally:
        del os.environ["NAGANO_TOKEN"]
    assert resolved == {"token": "from-env",
                        "auth": {"client_secret": "from-file", "client_id": "c1"}}


def test_schedules_are_durations_or_cron_in_local_time_with_bounded_jitter() -> None:
    after = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # 09:00 JST
    assert next_run("PT10M", after) == after + timedelta(minutes=10)
    assert next_run("P1DT2H", after) == after + timedelta(days=1, hours=2)
    assert next_run("*/10 * * * *", after) == after + timedelta(minutes=10)
    assert next_run("0 6 * * *", after) == datetime(2026, 12, 1, 21, 0, tzinfo=UTC)
    jittered = {next_run("PT10M", after, jitter=30.0) for _ in range(50)}
    assert len(jittered) > 1
    assert all(after + timedelta(minutes=10) <= t <= after + timedelta(minutes=10, seconds=30)
               for t in jittered)
    # jitter never exceeds a tenth of the interval
    assert all(next_run("PT1M", after, jitter=600.0) <= after + timedelta(seconds=66)
               for _ in range(20))


async def test_schedule_run_due_is_one_pass_of_the_worker(
        client: TestClient, database_url: str, pool: asyncpg.Pool, replay: Replay,
        tmp_path: Path) -> None:
    await _register(client, "loans", "library-loans", _library(replay))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.cli", "schedule", "--run-due", "--database-url",
        database_url, "--hub", str(client.make_url("")).rstrip("/"), "--source-allow",
        "127.0.0.0/8", "--state-dir", str(tmp_path / "state"), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, out.decode() + err.decode()
    assert "loans" in out.decode() and "succeeded" in out.decode()
    assert [r["status"] for r in (await _runs(pool))["loans"]] == ["succeeded"]
    # without a database URL it says what to give, and does not crash
    bare = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.cli", "schedule", "--run-due", cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "RENKEI_WORKER_DATABASE_URL"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await bare.communicate()
    assert bare.returncode == 2 and b"--database-url" in err


async def test_list_registrations_shows_how_each_runs(
        client: TestClient, database_url: str, pool: asyncpg.Pool, replay: Replay,
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``renkei adapters list --registrations``: the registry API's operating state of
    every registration in a table that fits 80 columns."""
    import argparse

    from adapters.cli import _cells, _list_registrations

    monkeypatch.setenv("COLUMNS", "80")
    await _register(client, "wakayama-loans", "library-loans", _library(replay),
                    schedule="0 6 * * *")
    await _register(client, "off", "library-loans", _library(replay), enabled=False)
    await run_pass(_settings(client, database_url, tmp_path), pool)
    args = argparse.Namespace(hub=str(client.make_url("")).rstrip("/") + "/ngsi-ld/v1",
                              token=None)
    assert await _list_registrations(args) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert all(_cells(line) <= 79 for line in out.splitlines())
    assert lines["off"][1:] == ["-", "off", "0", "never", "-"]
    loans = lines["wakayama-loans"]
    assert loans[-4:] == ["waiting", "0", "succeeded", "119/119"]
    assert "06:00" in loans  # the next 06:00 JST
