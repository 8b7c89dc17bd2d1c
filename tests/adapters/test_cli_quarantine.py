"""Quarantine you can work with, and a CLI that never says ``ok`` about a source it cannot
map (issue #15): ``check`` and dry runs on a file every row of which would be quarantined,
reasons in dry runs, ``describe --preview``, ``quarantine list | show | replay`` after a
mapping fix, and a ``--hub`` given with ``/ngsi-ld/v1``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from adapters.cli import main
from adapters.sdk import StateStore
from tests.adapters.fakehub import FakeHub

EXAMPLES = Path(__file__).parents[2] / "adapters" / "examples"


def _mapping(tmp: Path, extra_missing: str = "") -> Path:
    """The 小川村 example under another id, its ``missing`` list optionally extended."""
    text = (EXAMPLES / "ogawa_raingauge.toml").read_text(encoding="utf-8")
    text = text.replace('id = "ogawa-raingauge"', 'id = "ogawa-test"')
    if extra_missing:
        text = text.replace('"未受信"]', f'"未受信", "{extra_missing}"]')
    d = tmp / "mappings"
    d.mkdir(exist_ok=True)
    (d / "ogawa_test.toml").write_text(text, encoding="utf-8")
    return d


def _source(tmp: Path, bad_rows: set[int]) -> Path:
    """The example CSV with the rain value of the given data rows (1-based) set to 点検中."""
    lines = (EXAMPLES / "ogawa_raingauge.csv").read_bytes().decode("cp932").splitlines()
    for n in bad_rows:
        cells = lines[1 + n].split(",")
        cells[4] = "点検中"
        lines[1 + n] = ",".join(cells)
    path = tmp / "ogawa.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))
    return path


def test_a_source_every_row_of_which_is_quarantined_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    maps, src = _mapping(tmp_path), _source(tmp_path, set(range(1, 13)))
    assert main(["check", "ogawa-test", "--mappings", str(maps), "--source", str(src)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAILED") and "every row read would be quarantined" in out
    assert "点検中" in out  # the first reason names what it found
    # a dry run of it fails too, with the reason in the summary
    assert main(["run", "ogawa-test", "--mappings", str(maps), "--source", str(src),
                 "--dry-run", "--state-dir", str(tmp_path / "s")]) == 1
    out = capsys.readouterr().out
    assert "failed (dry run)" in out and "quarantined: " in out and "every row" in out
    # one bad row is an ordinary source: check passes, the dry run shows the reason
    one = _source(tmp_path, {3})
    assert main(["check", "ogawa-test", "--mappings", str(maps), "--source", str(one)]) == 0
    capsys.readouterr()
    assert main(["run", "ogawa-test", "--mappings", str(maps), "--source", str(one),
                 "--dry-run", "--state-dir", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert "partial (dry run)" in out and "quarantined: " in out and "点検中" in out
    assert all(len(line) <= 80 for line in out.splitlines()), out


def test_describe_preview_shows_the_first_entities(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["describe", "ogawa-raingauge", "--preview", "3"]) == 0
    doc = json.loads(capsys.readouterr().out)
    ids = [e["id"] for e in doc["preview"]["entities"]]
    assert ids == [f"urn:ngsi-ld:WeatherObserved:ogawa-OG01-20230601T0{h}00" for h in (1, 2, 3)]
    assert doc["preview"]["entities"][0]["precipitation"]["value"] == 0.5
    assert main(["describe", "ogawa-raingauge"]) == 0
    assert "preview" not in json.loads(capsys.readouterr().out)


async def test_quarantine_list_show_and_replay_after_a_mapping_fix(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    maps, src = _mapping(tmp_path), _source(tmp_path, {3, 7})
    state = str(tmp_path / "state")
    common = ["--mappings", str(maps), "--state-dir", state]
    async with FakeHub("none", fault_from=10**9) as hub:
        api = hub.url + "/ngsi-ld/v1"  # accepted with or without the suffix
        code = await asyncio.to_thread(main, ["run", "ogawa-test", "--source", str(src),
                                              "--hub", api, *common])
        assert code == 0  # partial: two rows the mapping refuses, ten written
        out = capsys.readouterr().out
        assert "partial" in out and "点検中" in out
        assert len(hub.stored) == 10
        assert main(["quarantine", "list", "ogawa-test", *common]) == 0
        out = capsys.readouterr().out
        assert "2 row(s)" in out and all(len(line) <= 80 for line in out.splitlines())
        assert main(["quarantine", "show", "ogawa-test", "5", *common]) == 0
        (entry,) = json.loads(capsys.readouterr().out)
        assert "点検中" in entry["raw"] and "not a number" in entry["reason"]
        assert main(["quarantine", "show", "ogawa-test", "99", *common]) == 1
        capsys.readouterr()
        # replaying with the mapping unchanged changes nothing
        code = await asyncio.to_thread(main, ["quarantine", "replay", "ogawa-test",
                                              "--hub", api, *common])
        assert code == 1 and len(hub.stored) == 10
        assert len(StateStore(state).quarantined("ogawa-test")) == 2
        # the village says 点検中 (maintenance) means no reading: the mapping learns it
        _mapping(tmp_path, extra_missing="点検中")
        code = await asyncio.to_thread(main, ["quarantine", "replay", "ogawa-test",
                                              "--hub", hub.url, *common])
        assert code == 0, capsys.readouterr().out
    assert StateStore(state).quarantined("ogawa-test") == []
    assert len(hub.stored) == 12
    fixed = hub.stored["urn:ngsi-ld:WeatherObserved:ogawa-OG01-20230601T0300"]
    assert "precipitation" not in fixed and fixed["temperature"]["value"] == 17.8
    assert len(hub.writes) == 12  # each entity written once: nothing sent twice


async def test_run_refused_for_a_token_exits_1_with_the_fix_then_resumes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    maps, src = _mapping(tmp_path), _source(tmp_path, set())
    args = ["run", "ogawa-test", "--source", str(src), "--mappings", str(maps),
            "--state-dir", str(tmp_path / "state"), "--batch-size", "2", "--in-flight", "1"]
    async with FakeHub("403-scope", fault_from=2) as hub:
        code = await asyncio.to_thread(main, [*args, "--hub", hub.url + "/ngsi-ld/v1"])
        out = capsys.readouterr().out
        assert code == 1 and "failed" in out
        assert "give the client the write scope" in " ".join(out.split())
        assert all(len(line) <= 80 for line in out.splitlines()), out
        assert StateStore(tmp_path / "state").quarantined("ogawa-test") == []
        written_before = len(hub.stored)
        assert written_before == 2  # the first batch only
        hub.recover()
        code = await asyncio.to_thread(main, [*args, "--hub", hub.url])
        out = capsys.readouterr().out
    assert code == 0 and "succeeded" in out
    assert len(hub.stored) == 12 and len(hub.writes) == 12  # nothing sent twice
