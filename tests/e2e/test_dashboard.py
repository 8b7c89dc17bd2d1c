"""The flood-watch dashboard in a real headless browser, on the quick start's sample data.

Starts ``renkei serve`` with the sample data (development mode, as ``python3 dev.py serve``
does), opens ``/dashboard/`` in the OS's Chromium driven by Playwright, and checks what the
page drew from the hub's API: every river station on the map, the rain gauges with their
accumulations, and a chart of the real MLIT history (one polyline point per reading, four
threshold lines, labelled synthetic). A screenshot is kept in ``tests/artifacts/``.

Never ``playwright install``: the browser is the distribution's (``apt-get install
chromium``); without it the test fails and says why, it never skips.
"""

from __future__ import annotations

import asyncio
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import reset_database
from tests.hubproc import start_hub

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
MOSHIRI = "urn:ngsi-ld:WaterObserved:mlit-301011281104010"
THRESHOLDS = "urn:ngsi-ld:FloodMonitoring:synthetic-mlit-301011281104010"
LINK = ('<https://renkei.example.jp/contracts/v1/context.jsonld>; '
        'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"')


@pytest.fixture(scope="module")
def hub(database_url: str) -> Iterator[str]:
    asyncio.run(reset_database(database_url))
    proc = start_hub(database_url, sample_data="true")
    yield proc.base
    assert proc.stop() == 0, proc.output()


def _get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(req, timeout=10) as res:
        return res.status, dict(res.headers), res.read()


def _browser() -> Any:
    """Playwright over the OS's Chromium (its context manager)."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        pytest.fail(f"playwright is not installed (pip install -e .[test]): {err}")
    return sync_playwright()


@pytest.mark.e2e
def test_sample_history_is_the_real_mlit_month(hub: str) -> None:
    """The loader stored every reading of the file, with its thresholds marked synthetic."""
    status, _, body = _get(f"{hub}/ngsi-ld/v1/temporal/entities/{MOSHIRI}?attrs=waterLevel",
                           Accept="application/json", Link=LINK)
    assert status == 200
    levels = orjson.loads(body)["waterLevel"]
    assert len(levels) == 744  # 31 days x 24 hours, none missing in January 2023
    first = min(levels, key=lambda i: i["observedAt"])
    # 2023/01/01 1時 JST = 2022-12-31T16:00Z, 321.52 m (the file's first cell)
    assert (first["observedAt"], first["value"]) == ("2022-12-31T16:00:00Z", 321.52)
    peak = max(i["value"] for i in levels)
    assert peak == 322.38  # 2023/01/31 9時 JST
    _, _, body = _get(f"{hub}/ngsi-ld/v1/entities?type=FloodMonitoring",
                      Accept="application/json", Link=LINK)
    floods = orjson.loads(body)
    assert [f["dataProvider"]["value"] for f in floods] == ["synthetic"]


@pytest.mark.e2e
def test_page_is_served_with_a_strict_policy(hub: str) -> None:
    status, headers, body = _get(f"{hub}/dashboard/")
    assert status == 200 and b"dashboard.js" in body
    assert "connect-src 'self'" in headers["Content-Security-Policy"]
    with pytest.raises(urllib.error.HTTPError) as err:
        _get(f"{hub}/dashboard/..%2Fsample.py")
    assert err.value.code == 404


def _post_alert(hub: str) -> None:
    """What services/flood_watch writes for a station (contracts/alert.py)."""
    alert = {
        "id": "urn:ngsi-ld:Alert:test-flood-watch-moshiri", "type": "Alert",
        "category": {"type": "Property", "value": "weather"},
        "subCategory": {"type": "Property", "value": "floodRisk"},
        "severity": {"type": "Property", "value": "medium"},
        "alertSource": {"type": "Property", "value": "test"},
        "dateIssued": {"type": "Property", "value": "2023-01-31T00:00:00Z"},
        "name": {"type": "Property", "value": "茂志利"},
        "floodStage": {"type": "Property", "value": "warning"},
        "refFloodMonitoring": {"type": "Relationship", "object": THRESHOLDS},
        "rise3h": {"type": "Property", "value": 0.79, "unitCode": "MTR"},
    }
    req = urllib.request.Request(f"{hub}/ngsi-ld/v1/entities", data=orjson.dumps(alert),
                                 headers={"Content-Type": "application/json", "Link": LINK})
    with urllib.request.urlopen(req, timeout=10) as res:
        assert res.status == 201


@pytest.mark.e2e
def test_dashboard_draws_stations_rain_and_history(hub: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    _post_alert(hub)
    with _browser() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
                    if r.status >= 400 else None)
            page.goto(f"{hub}/dashboard/")
            page.wait_for_selector("body[data-loaded=true]", timeout=20_000)
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

            # the two river stations of the sample, each a coloured mark on the map
            ids = page.eval_on_selector_all("#map-svg .station", "ns => ns.map(n => n.dataset.id)")
            assert sorted(ids) == sorted([
                MOSHIRI, "urn:ngsi-ld:WaterObserved:jp-20-chikumagawa-kuiseke"])
            # 45 AMeDAS gauges: on the map and in the table with 1 h / 3 h / 24 h sums
            assert page.locator("#map-svg .gauge").count() == 45
            assert page.locator("#rain .gauge-row").count() == 45
            assert page.locator("#rain .gauge-row td").nth(3).inner_text() != "–"
            # the real history: one point per reading of the last week, four thresholds
            chart = page.locator(f'.chart[data-id="{MOSHIRI}"]')
            points = chart.locator("polyline.series").get_attribute("points") or ""
            assert len(points.split()) == 168
            assert chart.locator("polyline.series").get_attribute("data-count") == "168"
            assert chart.locator("line.threshold").count() == 4
            assert "SYNTHETIC" in chart.inner_text()  # the made-up thresholds say so
            # the flood watch's Alert of the station, beside its chart
            alert = chart.locator("p.alert")
            assert alert.get_attribute("data-stage") == "warning"
            assert "rise 1 h –, 3 h +0.79 m" in alert.inner_text()
            # a station without history says so instead of drawing
            assert "no history" in page.locator(
                '.chart[data-id="urn:ngsi-ld:WaterObserved:jp-20-chikumagawa-kuiseke"]'
            ).inner_text()
            assert "2 river stations, 45 rain gauges" in page.locator("#status").inner_text()
            assert not errors, errors
        finally:
            browser.close()
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000


@pytest.mark.e2e
def test_restart_adds_no_history(hub: str, database_url: str) -> None:
    """Create-only: a second start on the same database leaves the history as it was."""
    again = start_hub(database_url, sample_data="true")
    try:
        _, _, body = _get(f"{again.base}/ngsi-ld/v1/temporal/entities/{MOSHIRI}"
                          "?attrs=waterLevel", Accept="application/json", Link=LINK)
        assert len(orjson.loads(body)["waterLevel"]) == 744
    finally:
        assert again.stop() == 0, again.output()
