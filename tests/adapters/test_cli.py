"""``renkei adapters`` as a user types it: in-process for the offline commands, and as a
subprocess against a real hub for ``run`` (through hub/cli.py's entry-point dispatch)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from adapters.cli import main
from contracts import LINK_HEADER
from tests.conftest import CATCH_ALL

RENKEI = Path(sys.executable).parent / "renkei"


def test_list_check_describe(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "jma-amedas" in out and "ogawa-raingauge" in out and "mapping file" in out
    assert main(["check", "mlit-water-level"]) == 0
    assert capsys.readouterr().out.startswith("ok")
    assert main(["describe", "library-loans"]) == 0
    assert json.loads(capsys.readouterr().out)["manifest"]["encoding"] == "cp932"


def test_check_fails_on_a_wrong_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "x.dat"
    bad.write_text("not a water level file", encoding="utf-8")
    assert main(["check", "mlit-water-level", "--source", str(bad)]) == 1
    assert "unexpected header" in capsys.readouterr().out
    assert main(["check", "no-such-adapter"]) == 2
    assert main(["check", "jma-amedas", "--option", "nonsense"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_dry_run_summary_and_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "jartic-traffic", "--dry-run", "--state-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "skipped: duplicate row" in out and "succeeded (dry run)" in out
    target = tmp_path / "sample.json"
    assert main(["export", "jma-amedas", "--option", "prefecture=48", "--output",
                 str(target)]) == 0
    entities = json.loads(target.read_text())
    assert len([e for e in entities if e["type"] == "Device"]) == 45
    assert all(e["@context"] for e in entities)


async def test_renkei_adapters_run_against_a_hub(client: TestClient, tmp_path: Path) -> None:
    url = str(client.make_url("")).rstrip("/")
    proc = await asyncio.create_subprocess_exec(
        str(RENKEI), "adapters", "run", "ogawa-raingauge", "--hub", url, "--state-dir",
        str(tmp_path), "--dataset", CATCH_ALL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    assert "recorded" in text and "status" in text
    resp = await client.get("/ngsi-ld/v1/entities", headers={"Link": LINK_HEADER}, params={
        "type": "WeatherObserved", "count": "true", "limit": "0"})
    assert resp.headers["NGSILD-Results-Count"] == "12"
    resp = await client.get("/registry/v1/adapters/ogawa-raingauge/runs")
    (run,) = await resp.json()
    assert run["status"] == "succeeded" and run["counts"]["written"] == 12
    reg = await (await client.get("/registry/v1/adapters/ogawa-raingauge")).json()
    assert reg["schedule"] == "PT1H" and reg["dataset"] == CATCH_ALL


def test_schedule_lists_due_and_manual_adapters(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schedule", "--state-dir", str(tmp_path)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert "PT10M" in rows["jma-amedas"] and rows["jma-amedas"].rstrip().endswith("due")
    assert rows["library-loans"].rstrip().endswith("manual")
    (tmp_path / "jma-amedas.state.json").write_text("{}")
    main(["schedule", "--state-dir", str(tmp_path)])
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert rows["jma-amedas"].rstrip().endswith("later")
