"""Reads the recorded MLIT 時刻水位月表 fixture into readings (test helper).

Shift_JIS, decoded before splitting lines; one row per day of 24 (value, flag) pairs;
hour 24 is 00:00 of the next day (JST). ``$`` (欠測), ``#`` (閉局) and ``-`` (未登録)
cells are left out; ``*`` (暫定値) is kept, as the hub would publish it (provisional).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from services.flood_watch import Reading

JST = timezone(timedelta(hours=9))
FIXTURES = Path(__file__).parent / "fixtures"
DAT = FIXTURES / "mlit_jikoku_suii_301011281104010_202301.dat"
STATION = "301011281104010"  # 茂志利 / 天塩川


def hourly(path: Path = DAT) -> list[Reading]:
    out = []
    for line in path.read_bytes().decode("shift_jis").splitlines():
        cells = line.split(",")
        if len(cells) < 49 or not cells[0][:4].isdigit():
            continue
        day = datetime.strptime(cells[0], "%Y/%m/%d").replace(tzinfo=JST)
        for hour in range(24):
            value, flag = cells[1 + 2 * hour].strip(), cells[2 + 2 * hour].strip()
            if value and flag not in ("$", "#", "-"):
                out.append(Reading(day + timedelta(hours=hour + 1), float(value)))
    return out
