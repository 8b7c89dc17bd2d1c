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

__all__ = ["MIN_LITERAL", "plain_literal", "regex_condition", "required_literal"]

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


@lru_cache(maxsize=256)
def plain_literal(pattern: str) -> tuple[str, bool] | None:
    """``(literal, anchored)`` when the pattern says no more than "contains ``literal``"
    (``L``, ``L.*``, ``.*L``, ``.*L.*``) or, ``anchored``, "starts with it" (``^L``,
    ``^L.*``), ``L`` being plain characters and escaped metacharacters; else None. The
    usual ``idPattern=urn:ngsi-ld:Vehicle:.*`` is one: the regex engine then need not run
    at all (``.`` matches any character in PostgreSQL's default mode, so ``.*`` adds
    nothing), which for a dense pattern is most of a count's cost (~5 us per id)."""
    anchored = pattern.startswith("^")
    body = pattern[1:] if anchored else pattern
    if body.endswith(".*") and not body.endswith("\\.*"):
        body = body[:-2]
    if not anchored and body.startswith(".*"):
        body = body[2:]
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            if i + 1 >= len(body) or body[i + 1].isalnum():
                return None
            out.append(body[i + 1])
            i += 2
            continue
        if c in _SPECIAL:
            return None
        out.append(c)
        i += 1
    literal = "".join(out)
    return (literal, anchored) if literal else None


def regex_condition(column: str, pattern: str) -> tuple[str, list[str]]:
    """``column ~ pattern`` as SQL with ``{}`` placeholders, and their values: a plain
    containment or prefix test when that is all the pattern says (``plain_literal``),
    else the literal test first when the pattern has a literal (``required_literal``)."""
    plain = plain_literal(pattern)
    if plain is not None:
        return (f"starts_with({column}, {{}})" if plain[1]
                else f"strpos({column}, {{}}) > 0"), [plain[0]]
    literal = required_literal(pattern)
    if literal is None:
        return f"{column} ~ {{}}", [pattern]
    return (f"(CASE WHEN strpos({column}, {{}}) > 0 THEN {column} ~ {{}} END)",
            [literal, pattern])
