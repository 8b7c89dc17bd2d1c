"""Regular expressions of ``q`` (GS CIM 009 4.9 patternOp: IEEE 1003.2 regular expressions).

A pattern runs in two engines: PostgreSQL's ``like_regex`` (POSIX ARE) in queries and
RE2 for subscriptions (linear time, so a client's pattern cannot freeze the event loop:
``hub/query/linear_regex.py``). This module accepts the common subset on which the two
agree, so a pattern never matches differently, nor fails at query time with a server
error. Rejected, each with the reason in the message: ``\\b``/``\\B`` (word boundary in
RE2, backspace/backslash in ARE), ``\\x`` (ARE reads any number of hex digits), ``\\u``,
backreferences ``\\1``..``\\9`` and every ``(?`` group but ``(?:`` (lookaround needs
backtracking, which RE2 refuses by design), possessive quantifiers, and POSIX bracket
classes ``[[:alpha:]]``. A leading ``(?i)`` is the case-insensitive flag (jsonpath
``flag "i"``). To agree with ARE, the RE2 form lets ``.`` match a newline and ``$`` match
only at the very end. Patterns are at most ``MAX_PATTERN`` (512) characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hub.errors import InvalidRequest
from hub.query.linear_regex import PatternError, compile_linear

__all__ = ["Regex", "parse_regex"]

_ESCAPES = set("dDsSwWnrtfvAZ")  # letters whose escapes agree in ARE and RE2
_GROUPS = ("(?:",)
_BOUND = re.compile(r"\{\d+(,\d*)?\}")


@dataclass(frozen=True, slots=True)
class Regex:
    """A checked pattern: ``source`` without a leading ``(?i)``, which sets ``ignore_case``."""

    source: str
    ignore_case: bool = False
    compiled: Any = field(compare=False, hash=False, repr=False, default=None)  # RE2

    def search(self, text: str) -> bool:
        return self.compiled.search(text) is not None


def _python_form(pattern: str, where: int) -> str:
    """Check ``pattern`` against the shared subset; return it rewritten for Python."""

    def fail(message: str) -> InvalidRequest:
        return InvalidRequest(f"q: pattern at position {where}: {message}")

    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= len(pattern):
                raise fail("trailing backslash")
            nxt = pattern[i + 1]
            if nxt.isdigit() and nxt != "0":
                raise fail("backreferences are not supported")
            if nxt.isalnum() and nxt not in _ESCAPES:
                raise fail(f"the escape \\{nxt} is not supported")
            out.append("\\z" if nxt == "Z" else pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if ch == "[" and pattern[i + 1 : i + 2] in (":", "=", "."):
                raise fail("POSIX bracket classes such as [[:alpha:]] are not supported")
            if ch == "]" and not (out and out[-1] in ("[", "[^")):
                in_class = False
            out.append(ch)
            i += 1
            continue
        if ch == "[":
            in_class = True
            if pattern.startswith("[^", i):
                out.append("[^")
                i += 2
                if pattern[i : i + 1] == "]":  # a leading ] is literal
                    out.append("]")
                    i += 1
                continue
            out.append("[")
            i += 1
            if pattern[i : i + 1] == "]":
                out.append("]")
                i += 1
            continue
        if ch == "(" and pattern.startswith("(?", i):
            if not any(pattern.startswith(g, i) for g in _GROUPS):
                raise fail("only (?: groups are supported (no lookaround)")
        elif ch == "{":
            if not _BOUND.match(pattern, i):
                raise fail("'{' must start a bound such as {2} or {1,3}")
        elif ch in "*+?}" and pattern[i + 1 : i + 2] == "+":
            raise fail("possessive quantifiers are not supported")
        elif ch == "$":
            out.append(r"\z")
            i += 1
            continue
        out.append(ch)
        i += 1
    if in_class:
        raise fail("unterminated bracket expression")
    return "".join(out)


def parse_regex(pattern: str, where: int = 0) -> Regex:
    """Check a ``~=`` pattern (InvalidRequest naming ``where`` when unsupported)."""
    ignore_case = pattern.startswith("(?i)")
    source = pattern[4:] if ignore_case else pattern
    linear = _python_form(source, where)
    try:
        compiled = compile_linear(linear, ignore_case=ignore_case, dot_nl=True)
    except PatternError as exc:
        raise InvalidRequest(f"q: invalid pattern at position {where}: {exc}") from None
    return Regex(source, ignore_case, compiled)
