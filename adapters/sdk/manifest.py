"""What an adapter declares about itself before it reads anything.

The manifest is data, not code: the CLI lists it, the registry stores it with the
adapter's registration, and the conformance suite checks that what an adapter produces
matches the contract types it declared.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

__all__ = ["Manifest", "parse_duration"]

_DURATION = re.compile(r"^(?P<n>\d+)\s*(?P<unit>s|m|h|d)$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``10m``, ``1h``, ``3d``: the forms schedules and look-back windows are written in."""
    m = _DURATION.match(text.strip())
    if not m:
        raise ValueError(f"not a duration (like 10m, 1h, 3d): {text!r}")
    return timedelta(seconds=int(m["n"]) * _SECONDS[m["unit"]])


@dataclass(frozen=True)
class Manifest:
    """``id`` is stable (it names the state file and the registry registration)."""

    id: str
    name: str
    source_format: str
    contract_types: tuple[str, ...]
    encoding: str = "utf-8"
    #: how often a scheduler should run it: ``every 10m``, ``every 1h``, ``daily``, ``manual``
    schedule: str = "manual"
    #: cursor look-back: rows observed up to this long before the saved cursor are read
    #: again, so provisional values revised later overwrite the earlier ones
    lookback: str = "0s"
    description: str = ""
    attribution: str = ""
    options: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", self.id):
            raise ValueError(f"adapter id must be lower-case [a-z0-9_-]: {self.id!r}")
        if not self.contract_types:
            raise ValueError("an adapter must declare at least one contract type")
        parse_duration(self.lookback)
        self.interval()

    @classmethod
    def from_file(cls, path: Path | str) -> Manifest:
        """A ``manifest.toml`` (the ``[adapter]`` table holds the fields)."""
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))["adapter"]
        doc["contract_types"] = tuple(doc["contract_types"])
        return cls(**doc)

    def lookback_window(self) -> timedelta:
        return parse_duration(self.lookback)

    def interval(self) -> timedelta | None:
        """The schedule as an interval, or None for ``manual``."""
        s = self.schedule.strip()
        if s == "manual":
            return None
        if s == "daily":
            return timedelta(days=1)
        if s == "hourly":
            return timedelta(hours=1)
        if s.startswith("every "):
            return parse_duration(s[6:])
        raise ValueError(f"schedule must be manual, hourly, daily or 'every <n><s|m|h|d>': {s!r}")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["contract_types"] = list(self.contract_types)
        return d
