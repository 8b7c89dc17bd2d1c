"""Client-supplied regular expressions, run with a bounded cost (issue #12, class 5).

Every pattern a client sends that the hub evaluates in Python — a subscription's
``idPattern``, a ``~=`` in a subscription's ``q`` — runs in the event loop, where Python's
backtracking ``re`` can take exponential time (``(a+)+$`` against forty ``a`` and a ``!``
freezes every request). RE2 (``google-re2``) matches in time linear in the text, and refuses
the constructs that need backtracking (backreferences, lookaround), so a pattern either
compiles here or is refused at the request that brings it — a stored subscription can never
fail later. Patterns are also bounded in length (``MAX_PATTERN``) so compiling one is cheap.

Patterns evaluated by PostgreSQL (a query's ``idPattern``, a query's ``q``) are checked with
the same rules, so one pattern means the same in both places, and are bounded there by the
statement timeout.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

from hub.errors import BadRequestData

__all__ = ["MAX_PATTERN", "LinearPattern", "PatternError", "check_id_pattern", "compile_linear",
           "id_pattern_matcher"]

#: the longest pattern accepted anywhere; longer answers 400
MAX_PATTERN = 512
#: RE2's memory budget per compiled pattern (its default is 8 MiB); a pattern that needs
#: more (huge counted repetitions) is refused rather than allowed to grow
_MAX_MEM = 1 << 20

LinearPattern = Any  # re2's compiled pattern (the package ships no type information)


class PatternError(ValueError):
    """The pattern is too long, invalid, or uses a construct RE2 cannot run in linear time."""


@lru_cache(maxsize=2048)
def compile_linear(pattern: str, *, ignore_case: bool = False, dot_nl: bool = False
                   ) -> LinearPattern:
    """Compile with RE2, or raise ``PatternError`` saying why (cached: subscriptions repeat
    the same few patterns on every change)."""
    if len(pattern) > MAX_PATTERN:
        raise PatternError(f"longer than {MAX_PATTERN} characters")
    options = re2.Options()
    options.log_errors = False
    options.max_mem = _MAX_MEM
    options.case_sensitive = not ignore_case
    options.dot_nl = dot_nl
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise PatternError(f"{reason} (backreferences and lookaround are not supported)"
                           ) from None


def check_id_pattern(pattern: str) -> str:
    """An ``idPattern`` (GS CIM 009 5.2.8) the hub can run in linear time, or 400."""
    try:
        compile_linear(pattern)
    except PatternError as exc:
        shown = pattern if len(pattern) <= 80 else pattern[:80] + "…"
        raise BadRequestData(f"invalid idPattern {shown!r}: {exc}") from None
    return pattern


def id_pattern_matcher(pattern: str) -> LinearPattern | None:
    """The compiled ``idPattern`` of a stored subscription; None for one stored before the
    check existed that RE2 refuses (it then matches nothing rather than failing a loop)."""
    try:
        return compile_linear(pattern)
    except PatternError:
        return None
