"""How far a run has got through its source, for the progress bar of ``renkei adapters run``.

Real progress, not a spinner: when the adapter numbers its rows by the source's text lines
(``Adapter.row_unit == "line"``: CSV and fixed-width files), the row reached is a position
in the file, told in bytes of the source against its size, with a percentage; otherwise (a
JSON document is parsed whole, its records are not lines) the size says nothing about the
row reached and the bar shows rows only. Either way with the rate in rows/s.

The bar is one line redrawn in place, at most 10 times a second, and never wider than the
terminal (``COLUMNS`` / the terminal's size) less one column, so it never wraps. Nothing is
drawn when the stream is not a terminal (a log would fill with carriage returns).
"""

from __future__ import annotations

import shutil
import sys
import time
from array import array
from collections.abc import Callable
from itertools import accumulate
from typing import Any, TextIO

__all__ = ["ProgressBar", "SourcePosition", "human_bytes", "terminal_width"]


def terminal_width(default: int = 80) -> int:
    """Columns of the terminal (``COLUMNS`` wins, as shutil reads it)."""
    return shutil.get_terminal_size((default, 24)).columns


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


class SourcePosition:
    """Bytes of the source consumed once row ``row`` is read (None: not known).

    Line-numbered rows map to the end of that line in the decoded text, scaled to the
    source's bytes (exact for single-byte text, proportional for CP932 or UTF-8)."""

    def __init__(self, size: int | None, line_ends: array[int] | None, chars: int) -> None:
        self.size, self._ends, self._chars = size, line_ends, chars

    @classmethod
    def of(cls, adapter: Any) -> SourcePosition:
        """The position index of an adapter's source; reads and decodes it once more
        (only the interactive CLI asks, never the worker)."""
        try:
            size = len(adapter.source_bytes())
        except Exception:  # the run reports an unreadable source, not the bar
            return cls(None, None, 0)
        if getattr(adapter, "row_unit", "record") != "line":
            return cls(size, None, 0)
        try:
            text = adapter.text()
        except Exception:
            return cls(size, None, 0)
        ends = array("q", accumulate(map(len, text.splitlines(keepends=True))))
        return cls(size, ends, len(text))

    @property
    def in_bytes(self) -> bool:
        return self.size is not None and self._ends is not None and self._chars > 0

    def at(self, row: int) -> int | None:
        """Bytes consumed through line ``row`` (1-based)."""
        if not self.in_bytes or self.size is None or self._ends is None:
            return None
        if row <= 0:
            return 0
        chars = self._ends[min(row, len(self._ends)) - 1]
        return min(self.size, chars * self.size // self._chars)


class ProgressBar:
    """The run's progress line: ``progress(rows_read, row_reached)`` is the runner's
    callback (sdk/runner.py ``run_adapter(progress=…)``)."""

    def __init__(self, label: str, position: SourcePosition | None = None, *,
                 stream: TextIO | None = None, interactive: bool | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label = label
        self.position = position or SourcePosition(None, None, 0)
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = (self.stream.isatty() if interactive is None else interactive)
        self.clock = clock
        self.start = clock()
        self.last = -1.0
        self.figures = (0, 0)

    def __call__(self, read: int, row: int) -> None:
        self.figures = (read, row)
        now = self.clock()
        if not self.interactive or now - self.last < 0.1:
            return
        self.last = now
        self.stream.write("\r" + self.line(read, row, now))
        self.stream.flush()

    def line(self, read: int, row: int, now: float | None = None) -> str:
        """The line as drawn, padded to the terminal's width less one column."""
        width = max(terminal_width() - 1, 20)
        elapsed = max((self.clock() if now is None else now) - self.start, 1e-6)
        rate = f"{read / elapsed:,.0f} rows/s"
        done = self.position.at(row)
        size = self.position.size
        if done is not None and size:
            tail = f" {100 * done // size:3d}% {human_bytes(done)}/{human_bytes(size)} {rate}"
        else:
            tail = f" {read:,} rows {rate}"
        label = self.label if len(self.label) <= 18 else self.label[:17] + "…"
        room = width - len(label) - len(tail) - 3  # " [" and "]"
        if done is not None and size and room >= 5:
            fill = room * done // size
            text = f"{label} [{'#' * fill}{'.' * (room - fill)}]{tail}"
        else:
            text = f"{label}{tail}"
        return text[:width].ljust(width)

    def done(self) -> None:
        """The last figures drawn once more, then a new line (the summary goes below)."""
        if not self.interactive:
            return
        self.stream.write("\r" + self.line(*self.figures) + "\n")
        self.stream.flush()
