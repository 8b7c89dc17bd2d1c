"""Every built-in adapter's live path against the replay server (tests/adapters/replay_server.py):
the real URL layouts, incremental by the source's own clock, polite, and failing with a
reason when the source is down, slow, answers an HTML page or publishes a file late."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.sdk import StateStore, run_adapter
from adapters.sdk.base import SourceError
from adapters.sdk.loader import load
from adapters.sources.fetch import (
    Fetcher,
    NotPublishedYet,
    SourceMemo,
    SourceUnavailable,
    source_session,
)
from adapters.sources.live import amedas_point_url, live_source
from tests.adapters.replay_server import Replay

UA = "renkei-test/1.0 (村役場 IT; it@example.jp)"
LOCAL = ("127.0.0.0/8",)
NOW = datetime(2025, 6, 28, 9, 5, tzinfo=UTC)


@pytest.fixture
async def replay() -> AsyncIterator[Replay]:
    r = await Replay.with_samples().start()
    yield r
    await r.close()


async def _live(adapter: str, config: dict[str, Any], memo: SourceMemo, *,
                wait: float = 10.0, allow: tuple[str, ...] = LOCAL) -> Any:
    async with source_session(allow) as session:
        fetcher = Fetcher(session, memo, user_agent=UA, min_interval=0.0, timeout=wait,
                          allow=allow)
        return await live_source(adapter, config, fetcher, NOW)


async def _dry_run(adapter: str, path: Path, options: dict[str, Any], tmp: Path) -> Any:
    report = await run_adapter(load(adapter, str(path), options=options), None,
                               StateStore(tmp / "dry"))
    assert report.reconciles(), report
    return report


async def test_amedas_reads_the_latest_snapshot_once_and_waits_for_a_late_file(
        replay: Replay, tmp_path: Path) -> None:
    config = {"base_url": replay.url("/bosai/amedas"), "options": {"prefecture": "48"}}
    memo = SourceMemo(tmp_path, "nagano-amedas")
    live = await _live("jma-amedas", config, memo)
    assert live.path is not None and live.options["time"] == "20250628180000"
    report = await _dry_run("jma-amedas", live.path, {**live.options, "prefecture": "48"},
                            tmp_path)
    assert report.written == 45 and report.status == "succeeded"
    assert all(q.user_agent == UA for q in replay.requests)
    memo.commit()

    # the marker did not move: nothing but latest_time.txt is asked for
    before = len(replay.requests)
    again = await _live("jma-amedas", config, SourceMemo(tmp_path, "nagano-amedas"))
    assert again.path is None
    assert [q.path for q in replay.requests[before:]] == ["/bosai/amedas/data/latest_time.txt"]

    # JMA moved the marker before publishing the map: late, and the marker stays put
    replay.latest = "2025-06-28T18:10:00+09:00"
    memo = SourceMemo(tmp_path, "nagano-amedas")
    with pytest.raises(NotPublishedYet, match=r"20250628181000\.json"):
        await _live("jma-amedas", config, memo)
    assert SourceMemo(tmp_path, "nagano-amedas").marker("amedas.latest") == \
        "2025-06-28T18:00:00+09:00"

    # published now: read, and the station table comes back 304 (not downloaded again)
    replay.published["/bosai/amedas/data/map/20250628181000.json"] = \
        replay.published["/bosai/amedas/data/map/20250628180000.json"]
    late = await _live("jma-amedas", config, SourceMemo(tmp_path, "nagano-amedas"))
    assert late.path is not None and late.options["time"] == "20250628181000"
    assert len(replay.fetched("amedastable.json")) == 1
    table_asks = [q for q in replay.requests if q.path.endswith("amedastable.json")]
    assert table_asks[-1].conditional and table_asks[-1].status == 304


def test_amedas_point_file_address_follows_the_three_hour_blocks() -> None:
    base = "https://www.jma.go.jp/bosai/amedas"
    assert amedas_point_url(base, "44132", datetime.fromisoformat(
        "2024-11-23T20:50:00+09:00")) == f"{base}/data/point/44132/20241123_18.json"
    assert amedas_point_url(base, "44132", datetime.fromisoformat(
        "2024-11-24T00:10:00+09:00")).endswith("/44132/20241124_00.json")
    # a UTC instant is placed in its JST block (15:10 UTC = 00:10 JST the next day)
    assert amedas_point_url(base, "44132", datetime(2024, 11, 23, 15, 10, tzinfo=UTC)
                            ).endswith("/44132/20241124_00.json")


async def test_amedas_point_layout_fetches_the_station_file(replay: Replay,
                                                             tmp_path: Path) -> None:
    replay.latest = "2024-11-23T20:50:00+09:00"
    live = await _live("jma-amedas", {"base_url": replay.url("/bosai/amedas"),
                                      "layout": "point", "station": "44132"},
                       SourceMemo(tmp_path, "tokyo"))
    assert live.path is not None and b'"20241123180000"' in live.path.read_bytes()
    assert replay.fetched("/data/point/44132/20241123_18.json")
    report = await _dry_run("jma-amedas", live.path, live.options, tmp_path)
    assert report.status == "succeeded" and report.written > 0


async def test_mlit_follows_the_search_page_to_the_dat_file(replay: Replay,
                                                            tmp_path: Path) -> None:
    config = {"base_url": replay.url(), "station": "301011281104010"}
    memo = SourceMemo(tmp_path, "teshio")
    live = await _live("mlit-water-level", config, memo)
    assert live.path is not None
    page = next(q for q in replay.requests if q.path == "/cgi-bin/DspWaterData.exe")
    assert page.status == 200
    report = await _dry_run("mlit-water-level", live.path, {}, tmp_path)
    assert report.written > 0
    memo.commit()
    # the same month file again: the content did not change, nothing to run
    assert (await _live("mlit-water-level", config, SourceMemo(tmp_path, "teshio"))).path is None


async def test_jartic_reads_slot_after_slot_and_waits_for_a_late_one(
        replay: Replay, tmp_path: Path) -> None:
    config = {"base_url": replay.url("/opentraffic"), "start": "202505120805"}
    memo = SourceMemo(tmp_path, "nagano-traffic")
    live = await _live("jartic-traffic", config, memo)
    assert live.path is not None and live.path.name == "jartic_202505120805.csv"
    report = await _dry_run("jartic-traffic", live.path, {}, tmp_path)
    assert report.written > 0
    memo.commit()
    with pytest.raises(NotPublishedYet, match=r"202505120810\.csv"):
        await _live("jartic-traffic", config, SourceMemo(tmp_path, "nagano-traffic"))
    assert SourceMemo(tmp_path, "nagano-traffic").marker("jartic.slot") == "202505120805"


async def test_library_csv_is_downloaded_again_only_when_it_changed(
        replay: Replay, tmp_path: Path) -> None:
    url = replay.url("/library/wakayama_pref_lib_main_h26_loan_top100_general.csv")
    memo = SourceMemo(tmp_path, "wakayama")
    live = await _live("library-loans", {"source": url}, memo)
    assert live.path is not None
    report = await _dry_run("library-loans", live.path, {"library": "wakayama-pref-main"},
                            tmp_path)
    assert report.written > 0
    memo.commit()
    again = await _live("library-loans", {"source": url}, SourceMemo(tmp_path, "wakayama"))
    assert again.path is None and "304" in again.note
    assert len(replay.fetched(".csv")) == 1 and replay.requests[-1].status == 304


async def test_a_library_without_a_source_url_is_told_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="set source"):
        await _live("library-loans", {}, SourceMemo(tmp_path, "x"))


@pytest.mark.parametrize("mode,reason", [("html", "HTML page"), ("error", "answered 503")])
async def test_an_html_error_page_is_an_error_not_data(replay: Replay, tmp_path: Path,
                                                       mode: str, reason: str) -> None:
    replay.mode = mode
    with pytest.raises(SourceUnavailable, match=reason):
        await _live("jma-amedas", {"base_url": replay.url("/bosai/amedas")},
                    SourceMemo(tmp_path, "a"))
    replay.mode = mode
    with pytest.raises(SourceUnavailable, match=reason):
        await _live("library-loans", {"source": replay.url("/library/x.csv")},
                    SourceMemo(tmp_path, "b"))


async def test_a_slow_source_times_out(replay: Replay, tmp_path: Path) -> None:
    replay.mode, replay.delay = "slow", 3.0
    with pytest.raises(SourceUnavailable, match="no answer within"):
        await _live("jma-amedas", {"base_url": replay.url("/bosai/amedas")},
                    SourceMemo(tmp_path, "a"), wait=0.5)


async def test_a_source_that_is_down_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable, match="unreachable"):
        await _live("jma-amedas", {"base_url": "http://127.0.0.1:9/bosai/amedas"},
                    SourceMemo(tmp_path, "a"))


async def test_private_addresses_are_refused_unless_allowed(replay: Replay,
                                                            tmp_path: Path) -> None:
    for base in (replay.url("/bosai/amedas"),
                 replay.url("/bosai/amedas").replace("127.0.0.1", "localhost")):
        with pytest.raises(SourceUnavailable):
            await _live("jma-amedas", {"base_url": base}, SourceMemo(tmp_path, "a"), allow=())
    assert replay.requests == []
