"""The progress bar and the tables of ``renkei adapters`` in an 80-column terminal: real
progress through the source (bytes of a line-numbered file, rows of a JSON document) with
the rate, and summary and registration tables that never wrap."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.cli import REGISTRATION_HEADER, _cells, _summary, _table, registration_rows
from adapters.jartic_traffic import JarticTrafficAdapter
from adapters.jma_amedas import AmedasAdapter
from adapters.sdk import RunReport, StateStore, run_adapter
from adapters.sdk.progress import ProgressBar, SourcePosition, human_bytes

JARTIC = Path(__file__).parent / "fixtures/jartic_traffic/jartic_5min_20250512.csv"


class _Clock:
    """Each reading 0.2 s after the last: every callback of the runner draws a frame."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 0.2
        return self.t


class _Text:
    """An adapter's source as far as the position index needs it."""

    row_unit = "line"

    def __init__(self, text: str) -> None:
        self._text = text

    def source_bytes(self) -> bytes:
        return self._text.encode("utf-8")

    def text(self) -> str:
        return self._text


def _frames(stream: io.StringIO) -> list[str]:
    return [f.rstrip("\n") for f in stream.getvalue().split("\r")[1:]]


def test_a_line_numbered_row_is_a_position_in_bytes() -> None:
    pos = SourcePosition.of(_Text("h\nab\ncde\r\nf\n"))
    assert pos.in_bytes and pos.size == 12
    assert [pos.at(r) for r in (0, 1, 2, 3, 4, 9)] == [0, 2, 5, 10, 12, 12]
    # multi-byte text: proportional to the characters read, never past the size
    wide = SourcePosition.of(_Text("見出し\n一行目\n二行目\n"))
    assert wide.size == 30 and wide.at(1) == 10 and wide.at(3) == 30
    records = _Text("{}")
    records.row_unit = "record"
    assert not SourcePosition.of(records).in_bytes and SourcePosition.of(records).at(5) is None


async def test_the_bar_tells_bytes_of_the_source_and_the_rate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    head, *rows = JARTIC.read_bytes().splitlines(keepends=True)
    data = head + b"".join(rows * 200)  # ~7,000 rows: the runner reports every 256
    adapter = JarticTrafficAdapter(data=data)
    stream = io.StringIO()
    bar = ProgressBar("jartic-traffic", SourcePosition.of(adapter), stream=stream,
                      interactive=True, clock=_Clock())
    report = await run_adapter(adapter, None, StateStore(tmp_path), progress=bar)
    bar.done()
    frames = _frames(stream)
    assert len(frames) >= 20, frames
    assert all(len(f) == 79 for f in frames)  # the width less one: never wraps
    percents = [int(m.group(1)) for f in frames if (m := re.search(r"(\d+)% ", f))]
    assert len(percents) == len(frames)
    assert percents == sorted(percents) and percents[0] < 10 and percents[-1] == 100
    assert f"/{human_bytes(len(data))} " in frames[-1]
    assert all(re.search(r"[\d,]+ rows/s", f) for f in frames)
    assert "[" + "#" * 10 in frames[-1] and "." not in frames[-1].split("]")[0][-3:]
    assert report.read == len(rows) * 200


async def test_a_json_source_is_told_in_rows(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    adapter = AmedasAdapter()
    stream = io.StringIO()
    bar = ProgressBar("jma-amedas", SourcePosition.of(adapter), stream=stream,
                      interactive=True, clock=_Clock())
    report = await run_adapter(adapter, None, StateStore(tmp_path), progress=bar)
    bar.done()
    frames = _frames(stream)
    assert frames and all(len(f) == 79 and "%" not in f for f in frames)
    assert f"{report.read:,} rows" in frames[-1] and "rows/s" in frames[-1]
    # not a terminal: nothing drawn (a log would fill with carriage returns)
    quiet = io.StringIO()
    bar = ProgressBar("jma-amedas", stream=quiet)
    bar(10, 10)
    bar.done()
    assert quiet.getvalue() == ""


def _fits(text: str, columns: int = 80) -> None:
    too_wide = [line for line in text.splitlines() if _cells(line) > columns - 1]
    assert not too_wide, too_wide


def test_the_summary_fits_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    report = RunReport("library-circulation", "/srv/renkei/sources/" + "長い名前の統計" * 8
                       + ".csv", "2026-12-06T00:00:00+00:00", status="partial", read=12,
                       written=9, quarantined=3, flags={"書誌情報に置換文字（�）がある": 2},
                       skip_reasons={"already acknowledged in an earlier run": 0},
                       error="the hub refused row 7: no dataset owns urn:ngsi-ld:X:" + "y" * 90,
                       quarantine=[{"row": 3, "reason": "貸出数が数値ではありません: " + "x" * 80,
                                    "raw": "", "source": ""}] * 3)
    note = "not recorded (401: " + "token expired " * 20 + ")"
    text = _summary(report, note)
    _fits(text)
    assert "status" in text and "partial" in text and "quarantined: 貸出数" in text
    # what does not fit a cell is said in full under the table
    assert "registry: not recorded (401:" in text.replace("\n", " ")
    assert "y" * 40 in text.replace("\n", "")


def test_the_registration_table_fits_and_keeps_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    regs: list[dict[str, Any]] = [
        {"id": "wakayama-main-loans-2026", "adapter": "library-loans",
         "schedule": "0 6 * * *", "nextRunAt": "2026-12-06T21:00:00Z",
         "nextRunReason": "scheduled", "consecutiveFailures": 0,
         "lastRun": {"status": "succeeded", "startedAt": "2026-12-05T21:00:03Z",
                     "finishedAt": "2026-12-05T21:00:09Z",
                     "counts": {"read": 1234567, "written": 1234500}}},
        {"id": "nagano-amedas", "adapter": "jma-amedas", "schedule": "PT10M",
         "nextRunAt": "2026-12-06T01:10:00Z", "nextRunReason": "backing-off",
         "backoffUntil": "2026-12-06T01:10:00Z", "consecutiveFailures": 3,
         "lastRun": {"status": "failed", "startedAt": "2026-12-06T01:00:00Z",
                     "finishedAt": None, "counts": {}}},
        {"id": "new", "adapter": "jartic-traffic", "schedule": "PT5M", "nextRunAt": None,
         "nextRunReason": "due", "consecutiveFailures": 0, "lastRun": None},
    ]
    today = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)  # 10:00 JST
    rows = registration_rows(regs, today)
    assert rows[0][1:] == ["12-07 06:00", "waiting", "0", "succeeded", "1.2M/1.2M"]
    assert rows[1][1:] == ["10:10", "backoff", "3", "failed", "0/0"]  # JST, as schedules
    assert rows[2][1:] == ["now", "due", "0", "never", "-"]
    text = _table(rows, REGISTRATION_HEADER)
    _fits(text)
    assert all(cell in text for row in rows for cell in row)  # nothing cut
    # an id too long for the line keeps its place; the other columns give way
    rows[0][0] = "wakayama-prefectural-lib-main-loans"
    text = _table(rows, REGISTRATION_HEADER)
    _fits(text)
    assert rows[0][0] in text
