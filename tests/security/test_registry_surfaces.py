"""The registry's management surfaces: adapter registrations (whose config may hold
credentials) and their runs (whose errors may quote rows) are the owner's and the
operator's; secrets in a config are write-only.

Organisations and datasets stay public: the DCAT catalogue shows them all anyway.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from tests.integration.authz_world import JSON, World
from tests.security.conftest import Digest

REG = "/registry/v1"
ADAPTER = "nagano-gauges"
SECRETS = ("hunter2", "k-123", "t-456", "Basic dXNlcjpwYXNz")
ROW = "row 3: 山田太郎 fine 300 yen"
CONFIG: dict[str, Any] = {
    "url": "https://example.jp/gauges.csv", "password": "hunter2",
    "auth": {"apiKey": "k-123", "user": "gauges"},
    "servers": [{"host": "a.example.jp", "access_token": "t-456"}],
    "headers": {"Authorization": "Basic dXNlcjpwYXNz"},
}


async def _register(w: World) -> None:
    """Nagano city registers an adapter with credentials and reports a failed run."""
    owner = w.auth("nagano-admin", **JSON)
    resp = await w.http.put(f"{REG}/adapters/{ADAPTER}", headers=owner, json={
        "id": ADAPTER, "dataset": "nagano-rain", "adapter": "csv", "config": CONFIG,
        "schedule": "PT10M"})
    text = await resp.text()
    assert resp.status == 201, text
    assert not any(s in text for s in SECRETS), text
    resp = await w.http.post(f"{REG}/adapters/{ADAPTER}/runs", headers=owner, json={
        "startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:01:00Z",
        "status": "partial", "counts": {"read": 4, "written": 3}, "errors": [ROW]})
    assert resp.status == 201, await resp.text()


async def _stored_config(w: World) -> Any:
    con = await asyncpg.connect(w.url)
    try:
        return await con.fetchval("SELECT config::text FROM registry.adapters WHERE id = $1",
                                  ADAPTER)
    finally:
        await con.close()


async def test_anonymous_and_other_organisations_cannot_read_adapters_or_runs(
        w: World, digest: Digest) -> None:
    await _register(w)
    await digest.seal()
    paths = [f"{REG}/adapters", f"{REG}/adapters/{ADAPTER}", f"{REG}/adapters/{ADAPTER}/runs",
             f"{REG}/adapters?dataset=nagano-rain"]
    for path in paths:
        resp = await w.http.get(path)  # anonymous
        assert resp.status == 401, (path, await resp.text())
        resp = await w.http.get(path, headers=w.auth("firm"))  # a token without manage
        assert resp.status == 403, (path, await resp.text())
    other = w.auth("ueda-admin")  # another organisation's manage token
    for path in paths[1:3]:
        resp = await w.http.get(path, headers=other)
        assert resp.status == 404, (path, await resp.text())
    for path in (paths[0], paths[3]):
        resp = await w.http.get(path, headers=other)
        assert resp.status == 200 and await resp.json() == []
    # what the catalogue shows stays public
    assert (await w.http.get(f"{REG}/datasets/nagano-rain")).status == 200
    assert (await w.http.get(f"{REG}/organisations")).status == 200


async def test_run_errors_only_reach_the_owner_and_the_operator(w: World,
                                                                 digest: Digest) -> None:
    await _register(w)
    await digest.seal()
    for who in ("ueda-admin", "firm-admin"):
        for path in (f"{REG}/adapters/{ADAPTER}", f"{REG}/adapters/{ADAPTER}/runs"):
            resp = await w.http.get(path, headers=w.auth(who))
            assert resp.status == 404 and "山田" not in await resp.text()
    for who in ("nagano-admin", "pref"):  # the owner and the configured operator
        resp = await w.http.get(f"{REG}/adapters/{ADAPTER}/runs", headers=w.auth(who))
        assert resp.status == 200, await resp.text()
        assert (await resp.json())[0]["errors"] == [ROW]


async def test_secrets_are_never_returned(w: World, digest: Digest) -> None:
    """GET after PUT with credentials: every secret key, at any depth, reads "***"; the
    stored value is the real one; a PUT sending "***" back keeps it."""
    await _register(w)
    stored = await _stored_config(w)
    assert all(s in stored for s in SECRETS)
    await digest.seal()
    for who in ("nagano-admin", "pref"):
        for path in (f"{REG}/adapters/{ADAPTER}", f"{REG}/adapters"):
            resp = await w.http.get(path, headers=w.auth(who))
            text = await resp.text()
            assert resp.status == 200, text
            assert not any(s in text for s in SECRETS), text
    got = await (await w.http.get(f"{REG}/adapters/{ADAPTER}",
                                  headers=w.auth("nagano-admin"))).json()
    assert got["config"] == {
        "url": "https://example.jp/gauges.csv", "password": "***",
        "auth": {"apiKey": "***", "user": "gauges"},
        "servers": [{"host": "a.example.jp", "access_token": "***"}],
        "headers": {"Authorization": "***"}}
    # read, change the schedule, put back: the credentials are kept, not overwritten
    body = {k: got[k] for k in ("id", "dataset", "adapter", "config")} | {"schedule": "PT5M"}
    resp = await w.http.put(f"{REG}/adapters/{ADAPTER}", headers=w.auth("nagano-admin", **JSON),
                            json=body)
    assert resp.status == 200, await resp.text()
    assert await _stored_config(w) == stored
    assert "***" not in stored
    await digest.seal()  # the schedule changed legitimately
