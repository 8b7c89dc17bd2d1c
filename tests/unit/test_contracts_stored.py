"""``validate_stored`` on entities in the hub's stored form (expanded IRIs, instances)."""

from __future__ import annotations

from typing import Any

import pytest

import contracts as c

WEATHER = c.iri("WeatherObserved")
CIRCULATION = c.iri("LibraryCirculation")
RANKING = c.iri("LibraryLoanRanking")


def p(value: Any, **extra: Any) -> list[dict[str, Any]]:
    return [{"type": "Property", "value": value, **extra}]


def weather(**over: Any) -> dict[str, Any]:
    attrs = {
        c.iri("dateObserved"): p("2026-11-22T09:00:00Z"),
        c.iri("location"): [{"type": "GeoProperty",
                             "value": {"type": "Point", "coordinates": [138.19, 36.65]}}],
        c.iri("precipitation"): p(12.5, unitCode="MMT", observedAt="2026-11-22T09:00:00Z"),
        c.iri("quality"): p("normal"),
        c.iri("refDevice"): [{"type": "Relationship", "object": "urn:ngsi-ld:Device:g1"}],
    }
    for term, value in over.items():
        if value is None:
            attrs.pop(c.iri(term))
        else:
            attrs[c.iri(term)] = value
    return attrs


def circulation(**over: Any) -> dict[str, Any]:
    attrs = {
        c.iri("refLibraryBranch"): [{"type": "Relationship",
                                     "object": "urn:ngsi-ld:PointOfInterest:ueda"}],
        c.iri("dateObservedFrom"): p("2026-10-01T00:00:00+09:00"),
        c.iri("dateObservedTo"): p("2026-11-01T00:00:00+09:00"),
        c.iri("loans"): p(4210),
        c.iri("loansByNdc"): p({"9": 1500, "4": 12}),
        c.iri("quality"): p("normal"),
    }
    attrs.update({c.iri(k): v for k, v in over.items()})
    return attrs


def rules(violations: list[c.Violation]) -> list[tuple[str, str]]:
    return [(v.attribute, v.rule) for v in violations]


def test_a_valid_entity_has_no_violations() -> None:
    assert c.validate_stored([WEATHER], weather()) == []
    assert c.validate_stored([CIRCULATION], circulation()) == []


def test_types_that_are_no_contract_are_not_checked() -> None:
    assert c.validate_stored(["https://example.org/RiverLevel"], {"x:y": p(-1)}) == []
    assert c.validate_stored([], weather(precipitation=p(-1))) == []


@pytest.mark.parametrize(("over", "expected"), [
    ({"precipitation": p(-1.0, unitCode="MMT")}, ("precipitation", "minimum")),
    ({"precipitation": p("12", unitCode="MMT")}, ("precipitation", "type")),
    ({"precipitation": p(True)}, ("precipitation", "type")),
    ({"precipitation": p(3.0, unitCode="CMT")}, ("precipitation", "unitCode")),
    ({"precipitation": [{"type": "Relationship", "object": "urn:x:y"}]},
     ("precipitation", "kind")),
    ({"quality": p("good")}, ("quality", "enum")),
    ({"quality": None}, ("quality", "required")),
    ({"dateObserved": None}, ("dateObserved", "required")),
    ({"dateObserved": p("2026-11-22T09:00:00")}, ("dateObserved", "format")),
    ({"dateObserved": p("yesterday")}, ("dateObserved", "format")),
    ({"location": [{"type": "GeoProperty", "value": {"type": "Polygon", "coordinates": []}}]},
     ("location", "geometry")),
    ({"refDevice": [{"type": "Relationship", "object": "gauge 1"}]}, ("refDevice", "pattern")),
    ({"relativeHumidity": p(45, unitCode="P1")}, ("relativeHumidity", "unitCode")),
    ({"windDirection": p(400, unitCode="DD")}, ("windDirection", "maximum")),
    ({"precipitationPeriod": p("1 hour")}, ("precipitationPeriod", "format")),
])
def test_each_rule_is_named_with_the_attribute(over: dict[str, Any],
                                               expected: tuple[str, str]) -> None:
    violations = c.validate_stored([WEATHER], weather(**over))
    assert rules(violations) == [expected]
    v = violations[0]
    assert v.iri == c.iri(expected[0]) and v.attribute in v.message
    assert expected[0] in str(v)


def test_unit_code_may_be_omitted_and_date_time_may_be_typed() -> None:
    typed = p({"@type": "DateTime", "@value": "2026-11-22T09:00:00Z"})
    assert c.validate_stored([WEATHER], weather(precipitation=p(1.0), dateObserved=typed)) == []


def test_quality_rules_in_stored_form() -> None:
    missing_with_value = weather(quality=p("missing"))
    assert rules(c.validate_stored([WEATHER], missing_with_value)) == [("precipitation", "rule")]
    no_value = weather(precipitation=None)
    assert rules(c.validate_stored([WEATHER], no_value)) == [("quality", "rule")]
    assert c.validate_stored([WEATHER], weather(precipitation=None, quality=p("missing"))) == []


def test_every_instance_is_checked_and_the_default_one_feeds_the_rules() -> None:
    two = [*p(1.0), {"type": "Property", "value": -2.0, "datasetId": "urn:ngsi-ld:Dataset:b"}]
    assert rules(c.validate_stored([WEATHER], weather(precipitation=two))) == [
        ("precipitation", "minimum")]


def test_library_contracts_are_closed_but_allow_what_the_caller_allows() -> None:
    borrower = "https://example.org/borrowerId"
    attrs = {**circulation(), borrower: p("U-0042")}
    violations = c.validate_stored([CIRCULATION], attrs)
    assert [(v.attribute, v.iri, v.rule) for v in violations] == [
        ("borrowerId", borrower, "closed")]
    assert c.validate_stored([CIRCULATION], attrs, allow={borrower}) == []
    # other contracts are open: the extra attribute is not theirs to judge
    assert c.validate_stored([WEATHER], {**weather(), borrower: p("x")}) == []


def test_cross_rules_in_stored_form() -> None:
    backwards = circulation(dateObservedTo=p("2026-09-01T00:00:00+09:00"))
    assert rules(c.validate_stored([CIRCULATION], backwards)) == [("dateObservedTo", "rule")]
    too_many = circulation(loans=p(100), loansByNdc=p({"9": 90, "4": 20}))
    assert rules(c.validate_stored([CIRCULATION], too_many)) == [("loansByNdc", "rule")]
    bad_class = circulation(loansByNdc=p({"A": 10}))
    assert rules(c.validate_stored([CIRCULATION], bad_class)) == [("loansByNdc", "enum")]


def test_small_groups_are_violations_only_when_a_minimum_is_given() -> None:
    assert c.validate_stored([CIRCULATION], circulation(), min_group_size=10) == []
    assert rules(c.validate_stored([CIRCULATION], circulation(), min_group_size=20)) == [
        ("loansByNdc", "suppression")]


def ranking(isbn: str, loans: int = 42) -> dict[str, Any]:
    return {
        c.iri("dateObservedFrom"): p("2026-10-01T00:00:00+09:00"),
        c.iri("dateObservedTo"): p("2026-11-01T00:00:00+09:00"),
        c.iri("rank"): p(1), c.iri("loans"): p(loans),
        c.iri("title"): p("吾輩は猫である"), c.iri("isbn"): p(isbn),
    }


def test_ranking_isbn_must_be_a_valid_isbn_13() -> None:
    assert c.validate_stored([RANKING], ranking("9780804429573")) == []
    assert rules(c.validate_stored([RANKING], ranking("080442957X"))) == [("isbn", "pattern")]
    assert rules(c.validate_stored([RANKING], ranking("9780804429574"))) == [("isbn", "rule")]
    assert rules(c.validate_stored([RANKING], ranking("9780804429573", loans=3),
                                   min_group_size=5)) == [("loans", "suppression")]


def test_remembered_checks_give_the_same_answers_as_fresh_ones() -> None:
    """``_checked`` keys its memo by value class too: 1, 1.0 and True are equal in Python."""
    from contracts.stored import _COMPILED, _check_attr, _checked

    compiled = next(iter(_COMPILED.values()))
    for a in compiled.attrs:
        for value in (1, 1.0, True, "1", "2026-01-01T00:00:00+09:00", -5, None, [1]):
            for unit in (None, a.unit, "XXX", ["bad"]):
                inst = {"type": a.kind, "value": value, "object": value}
                if unit is not None:
                    inst["unitCode"] = unit
                fresh = _check_attr(a, inst)
                assert _checked(a, inst) == fresh
                assert _checked(a, inst) == fresh  # and from the memo
