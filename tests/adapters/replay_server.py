"""A local replay of the live sources: the sample files under the publishers' real URL
layouts, with the ways real sources misbehave switchable per test.

Paths (prefix them with the server's URL):

* ``/bosai/amedas/data/latest_time.txt``, ``/bosai/amedas/data/map/{stamp}.json``,
  ``/bosai/amedas/data/point/{station}/{YYYYMMDD}_{hh}.json``,
  ``/bosai/amedas/const/amedastable.json`` (JMA; base ``…/bosai/amedas``)
* ``/cgi-bin/DspWaterData.exe?KIND=2&ID=…`` (an HTML page linking the ``.dat``) and
  ``/dat/dload/download/{n}.dat`` (MLIT 水文水質データベース; base = the server URL)
* ``/opentraffic/{YYYYMMDD}/{YYYYMMDDhhmm}.csv`` (JARTIC open-traffic CSV per 5-minute slot)
* ``/library/{file}.csv`` (a library's published CSV)

Every file answers ``ETag`` and ``Last-Modified`` and honours ``If-None-Match`` /
``If-Modified-Since`` with 304. ``Replay`` records every request (path, User-Agent,
conditional headers) so tests can assert what was (not) downloaded.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer

__all__ = ["FIXTURES", "Replay", "Request"]

FIXTURES = Path(__file__).parent / "fixtures"
_LAST_MODIFIED = "Sat, 28 Jun 2025 09:00:00 GMT"
_HTML_ERROR = ("<!DOCTYPE html><html><head><title>503 Service Temporarily Unavailable"
               "</title></head><body>メンテナンス中です</body></html>").encode()


@dataclass
class Request:
    path: str
    user_agent: str
    conditional: bool
    status: int


@dataclass
class Replay:
    """The replay server's state; tests change it between runs."""

    #: what ``latest_time.txt`` says
    latest: str = "2025-06-28T18:00:00+09:00"
    #: paths of files that exist (others: 404), to publish a file late
    published: dict[str, bytes] = field(default_factory=dict)
    #: ``ok``, ``slow`` (sleeps ``delay`` s), ``html`` (200 text/html maintenance page),
    #: ``error`` (503 with an HTML page)
    mode: str = "ok"
    delay: float = 5.0
    requests: list[Request] = field(default_factory=list)
    #: paths as requests arrive (before any delay), to know a run is under way
    arrived: list[str] = field(default_factory=list)
    server: TestServer | None = None

    @classmethod
    def with_samples(cls) -> Replay:
        r = cls()
        amedas = FIXTURES / "jma_amedas"
        r.published = {
            "/bosai/amedas/data/map/20250628180000.json":
                (amedas / "amedas_map_20250628180000.json").read_bytes(),
            "/bosai/amedas/const/amedastable.json": (amedas / "amedastable.json").read_bytes(),
            "/dat/dload/download/2301011281104010202301017654321.dat":
                (FIXTURES / "mlit_water_level"
                 / "mlit_jikoku_suii_301011281104010_202301.dat").read_bytes(),
            "/opentraffic/20250512/202505120805.csv":
                (FIXTURES / "jartic_traffic" / "jartic_5min_20250512.csv").read_bytes(),
            "/library/wakayama_pref_lib_main_h26_loan_top100_general.csv":
                (FIXTURES / "library"
                 / "wakayama_pref_lib_main_h26_loan_top100_general.csv").read_bytes(),
            "/bosai/amedas/data/point/44132/20241123_18.json":
                (amedas / "amedas_point_44132_20241123_18.json").read_bytes(),
        }
        return r

    def url(self, path: str = "") -> str:
        assert self.server is not None
        return str(self.server.make_url(path)).rstrip("/")

    def fetched(self, suffix: str) -> list[Request]:
        """Requests whose path ends with ``suffix`` (answered 200: a body was sent)."""
        return [q for q in self.requests if q.path.endswith(suffix) and q.status == 200]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.arrived.append(request.path)
        status, resp = await self._answer(request)
        self.requests.append(Request(request.path, request.headers.get("User-Agent", ""),
                                     "If-None-Match" in request.headers
                                     or "If-Modified-Since" in request.headers, status))
        return resp

    async def _answer(self, request: web.Request) -> tuple[int, web.StreamResponse]:
        if self.mode == "slow":
            await asyncio.sleep(self.delay)
        if self.mode == "html":
            return 200, web.Response(body=_HTML_ERROR, content_type="text/html")
        if self.mode == "error":
            return 503, web.Response(status=503, body=_HTML_ERROR, content_type="text/html")
        path = request.path
        if path == "/bosai/amedas/data/latest_time.txt":
            return 200, web.Response(text=self.latest, content_type="text/plain")
        if path == "/cgi-bin/DspWaterData.exe":
            station = request.query.get("ID", "")
            page = (f'<html><head><title>水文水質データベース</title></head><body>{station}'
                    '<a href="/dat/dload/download/2301011281104010202301017654321.dat">'
                    'ダウンロード</a></body></html>').encode("shift_jis")
            return 200, web.Response(body=page, content_type="text/html", charset="shift_jis")
        body = self.published.get(path)
        if body is None:
            return 404, web.Response(status=404, text="Not Found")
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            return 304, web.Response(status=304, headers={"ETag": etag})
        return 200, web.Response(body=body, headers={"ETag": etag,
                                                     "Last-Modified": _LAST_MODIFIED},
                                 content_type="application/octet-stream")

    async def start(self) -> Replay:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self.server = TestServer(app)
        await self.server.start_server()
        return self

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()
