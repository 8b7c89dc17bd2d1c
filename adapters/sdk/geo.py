"""Coordinates as Japanese sources give them, to decimal degrees on JGD2011.

Sources give degrees-minutes-seconds text (``北緯 44度04分29秒 東経 142度44分25秒``),
JMA's ``[degrees, decimal minutes]`` pairs, and sometimes positions on the old Tokyo
datum (日本測地系, Bessel ellipsoid), which sits about 400 m off the modern one.

``tokyo_to_jgd2011`` uses the published first-order approximation of the Tokyo →
WGS84/JGD2000 shift (a linear function of latitude and longitude). It is accurate to
roughly 10 m across Japan — good enough to place a gauge on a map, not for surveying;
GSI's TKY2JGD grid is the exact transformation. JGD2011 differs from JGD2000 by the
2011 Tōhoku crustal movement (up to a few metres in eastern Japan), ignored here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from adapters.sdk.text import nfkc

__all__ = ["degrees_decimal_minutes", "dms_to_decimal", "parse_dms_pair", "tokyo_to_jgd2011"]

_DMS = re.compile(
    r"(?P<hemi>北緯|南緯|東経|西経|[NSEW])?\s*(?P<d>\d{1,3})\s*[度°]\s*(?P<m>\d{1,2}(?:\.\d+)?)\s*[分′']"
    r"\s*(?:(?P<s>\d{1,2}(?:\.\d+)?)\s*[秒″\"])?"
)


def dms_to_decimal(degrees: float, minutes: float = 0.0, seconds: float = 0.0) -> float:
    if not (0 <= minutes < 60 and 0 <= seconds < 60):
        raise ValueError(f"minutes/seconds out of range: {minutes}, {seconds}")
    return degrees + minutes / 60.0 + seconds / 3600.0


def degrees_decimal_minutes(pair: Sequence[float]) -> float:
    """JMA's ``[45, 31.2]`` (45° 31.2′) to 45.52."""
    if len(pair) != 2:
        raise ValueError(f"expected [degrees, minutes], got {pair!r}")
    deg, minutes = float(pair[0]), float(pair[1])
    sign = -1.0 if deg < 0 else 1.0
    return sign * dms_to_decimal(abs(deg), minutes)


def parse_dms_pair(text: str) -> tuple[float, float]:
    """``北緯 44度04分29秒 東経 142度44分25秒`` to ``(lat, lon)`` in decimal degrees."""
    found = list(_DMS.finditer(nfkc(text)))
    if len(found) != 2:
        raise ValueError(f"not a latitude/longitude pair: {text!r}")
    out: list[float] = []
    for m in found:
        v = dms_to_decimal(float(m["d"]), float(m["m"]), float(m["s"] or 0))
        if m["hemi"] in ("南緯", "西経", "S", "W"):
            v = -v
        out.append(v)
    lat, lon = out
    if found[0]["hemi"] in ("東経", "西経", "E", "W"):
        lat, lon = lon, lat
    return lat, lon


def tokyo_to_jgd2011(lat: float, lon: float) -> tuple[float, float]:
    """Approximate Tokyo datum → JGD2011 (≈ WGS84) shift; see the module docstring."""
    lat2 = lat - 0.00010695 * lat + 0.000017464 * lon + 0.0046017
    lon2 = lon - 0.000046038 * lat - 0.000083043 * lon + 0.010040
    return lat2, lon2
