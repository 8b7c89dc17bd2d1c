"""The JARTIC open-traffic CSV layout (常設トラカン 5-minute and 1-hour values).

Columns as published (see /work/shared/samples/README.md, "Not copied"): three codes that
name the counting site, a collection-interval flag, the date (YYYYMMDD) and time of day
(hhmm, not zero-padded: ``800``), then for 上り and 下り each: small-vehicle, large-vehicle
and unclassified counts and four 0/1 flags (停電 power cut, ループ異常 loop-detector fault,
超音波異常 ultrasonic-detector fault, 欠測 missing), the road type (1 expressway,
3 national road), the time code YYYYMMDDhhmm (JST) and the site's position (one point,
or two points of a section). ``generate`` writes files of this layout: no openly licensed
real file exists, so the fixtures and the benchmark's 100,000-row file are built with it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta

__all__ = ["COLUMNS", "DIRECTIONS", "generate"]

DIRECTIONS = ("上り", "下り")
_PER_DIRECTION = ("小型交通量", "大型交通量", "車種判別不能交通量", "停電", "ループ異常",
                  "超音波異常", "欠測")
COLUMNS: tuple[str, ...] = (
    "地方整備局等番号", "開発建設部／都道府県コード", "常時観測点コード", "収集時間フラグ",
    "観測年月日", "時間帯",
    *(f"{d}・{c}" for d in DIRECTIONS for c in _PER_DIRECTION),
    "道路種別", "時間コード", "lat", "lng", "lat2", "lng2",
)


def generate(rows: int, *, start: datetime = datetime(2025, 5, 12, 8, 0), interval_min: int = 5,
             sites: int = 50, seed: int = 5, faults: bool = True) -> Iterator[str]:
    """CSV lines (header first) of ``rows`` data rows: ``sites`` sites per interval."""
    rnd = random.Random(seed)
    yield ",".join(COLUMNS)
    flag = "1" if interval_min == 5 else "2"
    t = start
    n = 0
    while True:
        t += timedelta(minutes=interval_min)
        for s in range(sites):
            if n >= rows:
                return
            n += 1
            cells = ["8", str(20 + s % 3), f"{3000 + s:05d}", flag, t.strftime("%Y%m%d"),
                     str(int(t.strftime("%H%M")))]
            for _ in DIRECTIONS:
                small, large, unk = rnd.randint(0, 120), rnd.randint(0, 30), rnd.randint(0, 3)
                fault = ["0", "0", "0", "0"]
                if faults and rnd.random() < 0.02:
                    fault[rnd.randint(0, 2)] = "1"
                counts = [str(small), str(large), str(unk)]
                if faults and rnd.random() < 0.01:
                    counts, fault[3] = ["", "", ""], "1"
                cells += counts + fault
            lat, lng = 36.2 + s * 0.01, 138.0 + s * 0.01
            second = [f"{lat + 0.005:.6f}", f"{lng + 0.005:.6f}"] if s % 2 else ["", ""]
            cells += ["3" if s % 4 else "1", t.strftime("%Y%m%d%H%M"), f"{lat:.6f}", f"{lng:.6f}",
                      *second]
            yield ",".join(cells)
