"""``required_literal``: a literal every match of the pattern contains, or None.

Soundness is what matters (a wrong literal would hide matching entities): for each
pattern, every generated string that the regex matches must contain the literal. Strings
that match are drawn by hypothesis (``from_regex``) and confirmed with RE2, the engine
that validates clients' patterns."""

from __future__ import annotations

import re

import pytest
import re2
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hub.query.regex_literal import plain_literal, regex_condition, required_literal

CASES = [
    ("urn:ngsi-ld:TrafficFlowObserved:1234.*", "urn:ngsi-ld:TrafficFlowObserved:1234"),
    ("^urn:ngsi-ld:Vehicle:", "urn:ngsi-ld:Vehicle:"),
    ("urn:ngsi-ld:Road\\.Segment:a+b", "urn:ngsi-ld:Road.Segment:"),
    ("abc?def", "def"),  # the quantified c may be absent: "ab" or "def"
    ("abcd{2}efgh", "efgh"),
    ("abcd{2,}", "abc"),
    ("(abc)defg", "defg"),
    ("abcd(x|y)", "abcd"),
    ("[abc]defg[xyz]", "defg"),
    ("x[]a]yyyy", "yyyy"),
    ("a\\dbcde", "bcde"),
    ("abcde*", "abcd"),
    ("abc|def", None),  # either branch: no literal is in every match
    ("(?i)abcdef", None),  # case-insensitive: strpos would be wrong
    ("ab", None),  # too short to be worth a test
    (".*", None),
    ("", None),
    ("abc(", None),
    ("abc[", None),
]


@pytest.mark.parametrize(("pattern", "literal"), CASES)
def test_literal_of_each_pattern(pattern: str, literal: str | None) -> None:
    assert required_literal(pattern) == literal


PATTERNS = [p for p, _ in CASES if p and p not in ("abc(", "abc[")] + [
    "ab+cd+ef", "a(bc)+defg", "xyz{1,3}abc", "ab*cde", "(ab|cd)efgh", "a.bcd.e",
    "abcd$", "^abcd", "[^]x]abcd", "abc[d-f]ghi", "ab?c?defg?h", "(a(b)c)defg(h)",
    "abc{0,2}def", "a\\.bcd\\(e",
]


@pytest.mark.parametrize("pattern", [p for p in PATTERNS if required_literal(p)])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_every_match_contains_the_literal(pattern: str, data: st.DataObject) -> None:
    literal = required_literal(pattern)
    assert literal is not None
    text = data.draw(st.from_regex(re.compile(pattern, re.ASCII)))
    # Python's engine (which draws) and RE2 differ at the edges (Unicode digits, "$"
    # before a final newline): only what RE2 matches counts
    assume(re2.search(pattern, text))
    assert literal in text


def test_condition_puts_the_literal_first() -> None:
    sql, values = regex_condition("e.id", "urn:ngsi-ld:X:12[0-9]")
    assert values == ["urn:ngsi-ld:X:12", "urn:ngsi-ld:X:12[0-9]"]
    assert sql.index("strpos") < sql.index("~")
    assert regex_condition("e.id", "a|b") == ("e.id ~ {}", ["a|b"])
    # a pattern that says only "contains" or "starts with" needs no regex at all
    assert regex_condition("e.id", "urn:ngsi-ld:X:.*") == (
        "strpos(e.id, {}) > 0", ["urn:ngsi-ld:X:"])
    assert regex_condition("e.id", "^urn:ngsi-ld:X:") == (
        "starts_with(e.id, {})", ["urn:ngsi-ld:X:"])


PLAIN = [
    ("urn:ngsi-ld:Vehicle:.*", ("urn:ngsi-ld:Vehicle:", False)),
    ("^urn:ngsi-ld:Vehicle:", ("urn:ngsi-ld:Vehicle:", True)),
    ("^urn:ngsi-ld:Vehicle:.*", ("urn:ngsi-ld:Vehicle:", True)),
    (".*Vehicle:a\\.b.*", ("Vehicle:a.b", False)),
    ("Vehicle", ("Vehicle", False)),
    ("ab", ("ab", False)),
    ("Vehicle:a.b", None), ("Vehicle:\\d", None), ("Vehicle:a\\.*", None),
    ("Vehicle$", None), ("^.*Vehicle", None), ("Veh|icle", None), ("Vehi+cle", None),
    ("(Vehicle)", None), ("[V]ehicle", None), (".*", None), ("^", None), ("", None),
]


@pytest.mark.parametrize(("pattern", "plain"), PLAIN)
def test_plain_patterns(pattern: str, plain: tuple[str, bool] | None) -> None:
    assert plain_literal(pattern) == plain


@pytest.mark.parametrize("pattern", [p for p, plain in PLAIN if plain])
@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="urn:gsiVehcl.abx^\n", max_size=30))
def test_plain_tests_answer_what_the_regex_answers(pattern: str, text: str) -> None:
    """On any text, newlines included (PostgreSQL's ``.`` matches them; RE2 with ``s``),
    the containment or prefix test equals the regex."""
    plain = plain_literal(pattern)
    assert plain is not None
    literal, anchored = plain
    expected = re2.search(f"(?s:{pattern})", text) is not None
    assert (text.startswith(literal) if anchored else literal in text) == expected
