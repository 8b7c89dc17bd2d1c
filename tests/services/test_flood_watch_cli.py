"""``renkei flood-watch``: reached through the renkei.commands entry point, and one cycle
(``once``) against an enforcing hub with the prefecture's client credentials."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from services.flood_watch import cli
from tests.integration.authz_world import PREF, World
from tests.services.test_flood_watch_hub import PURPOSE, STATION, _grant_prefecture, flood_world

__all__ = ["flood_world"]


def test_renkei_dispatches_flood_watch_by_entry_point() -> None:
    out = subprocess.run([sys.executable, "-c", "from hub.cli import main; main()",
                          "flood-watch", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "renkei flood-watch" in out.stdout and "--client-id" in out.stdout


def test_a_client_id_without_secret_is_refused() -> None:
    assert cli.main(["once", "--client-id", "x"]) == 2


async def test_once_prints_each_station(flood_world: World,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    w = flood_world
    await _grant_prefecture(w)
    service = await w.new_client("flood-watch", PREF, ["read", "write"])
    args = cli._parser().parse_args([
        "once", "--hub", str(w.http.make_url("")).rstrip("/"),
        "--client-id", service["client_id"], "--client-secret", service["client_secret"],
        "--purpose", PURPOSE, "--at", "2023-01-29T09:00:00+09:00"])
    assert await cli._main(args) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(x["station"], x["stage"], x["level"], x["alertWritten"]) for x in lines] == [
        (STATION, "evacuation", 322.27, True)]
    assert lines[0]["rain"] == {"1h": 4.0, "3h": 12.0, "24h": 24.0}
