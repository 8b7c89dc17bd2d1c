"""A literal that every match of a client's regular expression contains (issue #13).

PostgreSQL's regex engine runs an unanchored pattern at every start position: at 200,000
entities ``idPattern=urn:ngsi-ld:TrafficFlowObserved:1234.*`` took ~1 s of a backend's
CPU, ~5 us per id, where ``strpos`` for the same text took 30 ms. So a pattern with a
literal run every match must contain is matched as ``CASE WHEN strpos(x, literal) > 0
THEN x ~ pattern END``: ``CASE`` keeps the cheap test first (in a plain ``AND`` the
planner ran the regex first, its estimated cost being lower), and the regex decides.

The scan is conservative: any construct it does not follow (an alternation outside a
group, a flag group, an escape naming a class) ends the run or gives up, so the literal
is always a substring of every match, only sometimes shorter than it could be.
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["MIN_LITERAL", "regex_condition", "required_literal"]

#: a shorter run would filter little; the pattern then runs on every row as before
MIN_LITERAL = 3
_SPECIAL = set("\\^$.|?*+()[]{}")
_QUANTIFIERS = set("*+?{")


@lru_cache(maxsize=256)
def required_literal(pattern: str) -> str | None:
    """The longest run of plain characters outside groups, classes and quantifiers,
    which any string the pattern matches contains; None if shorter than ``MIN_LITERAL``
    or when the pattern has a top-level alternation or a ``(?`` group (flags such as
    case-insensitivity would make ``strpos`` wrong)."""
    if "(?" in pattern or pattern.startswith("***"):
        return None
    best = ""
    run: list[str] = []
    i, depth = 0, 0

    def close() -> None:
        nonlocal best, run
        if len(run) > len(best):
            best = "".join(run)
        run = []

    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 >= len(pattern):
                return None
            nxt = pattern[i + 1]
            if depth == 0 and not nxt.isalnum():
                run.append(nxt)  # an escaped metacharacter is itself
            elif depth == 0:
                close()  # \d, \w, \n, a back-reference: not one known character
            i += 2
            continue
        if c == "[":
            close()
            i = _class_end(pattern, i)
            if i < 0:
                return None
            continue
        if c == "(":
            close()
            depth += 1
        elif c == ")":
            depth -= 1
            if depth < 0:
                return None
        elif c == "|" and depth == 0:
            return None
        elif depth == 0 and c in _QUANTIFIERS:
            if run:
                run.pop()  # the quantified character may be absent or repeated
            close()
            if c == "{":  # a bound: skip it whole
                end = pattern.find("}", i)
                if end < 0:
                    return None
                i = end
        elif depth == 0 and c in _SPECIAL:
            close()
        elif depth == 0:
            run.append(c)
        i += 1
    if depth != 0:
        return None
    close()
    return best if len(best) >= MIN_LITERAL else None


def _class_end(pattern: str, start: int) -> int:
    """The index just past the bracket expression opening at ``start``; -1 if unclosed.
    A ``]`` right after ``[`` or ``[^`` is a member, as in every POSIX engine."""
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern[i] == "]":
            return i + 1
        i += 1
    return -1


def regex_condition(column: str, pattern: str) -> tuple[str, list[str]]:
    """``column ~ pattern`` as SQL with ``{}`` placeholders, and their values: the
    literal test first when the pattern has a literal (``required_literal``)."""
    literal = required_literal(pattern)
    if literal is None:
        return f"{column} ~ {{}}", [pattern]
    return (f"(CASE WHEN strpos({column}, {{}}) > 0 THEN {column} ~ {{}} END)",
            [literal, pattern])
