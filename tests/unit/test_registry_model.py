"""The registry's pure rules: check digits on real codes, rule matching, overlap refusal,
and the validation of the management API's JSON. No database."""

from __future__ import annotations

import pytest

from registry import (
    Invalid,
    MembershipRule,
    OwnershipIndex,
    check_no_overlap,
    corporate_number_check_digit,
    is_corporate_number,
    is_local_government_code,
    is_prefecture_code,
    local_government_check_digit,
)
from registry.model import OrgKind, dataset_from_json, organisation_from_json, run_from_json

V = "https://uri.etsi.org/ngsi-ld/default-context/"


def expand(name: str) -> str:
    return V + name


# -- check digits ----------------------------------------------------------------------------

@pytest.mark.parametrize("code", [
    "200000",  # 長野県
    "202011",  # 長野市
    "202029",  # 松本市
    "202037",  # 上田市
    "202177",  # 佐久市
    "010006",  # 北海道
    "131016",  # 東京都千代田区
    "271004",  # 大阪市
])
def test_real_local_government_codes_pass(code: str) -> None:
    assert is_local_government_code(code)
    assert local_government_check_digit(code[:5]) == int(code[5])


@pytest.mark.parametrize("code", ["200001", "202012", "202020", "20201", "2020111", "２０２０１１",
                                  "480005", "000000", "20201a"])
def test_wrong_local_government_codes_fail(code: str) -> None:
    assert not is_local_government_code(code)


def test_check_digit_remainders_zero_and_one() -> None:
    # 20201: 2*6+2*4+1*2 = 22, remainder 0 -> 11 -> 1; 20000: 12, remainder 1 -> 10 -> 0
    assert local_government_check_digit("20201") == 1
    assert local_government_check_digit("20000") == 0


def test_prefecture_codes() -> None:
    assert is_prefecture_code("200000") and is_prefecture_code("010006")
    assert not is_prefecture_code("202011")


@pytest.mark.parametrize("number", ["7000012050002",  # 国税庁
                                    "1180301018771",  # トヨタ自動車
                                    "4000012090001"])  # 財務省
def test_real_corporate_numbers_pass(number: str) -> None:
    assert is_corporate_number(number)
    assert corporate_number_check_digit(number[1:]) == int(number[0])


@pytest.mark.parametrize("number", ["8000012050002", "1180301018772", "118030101877",
                                    "11803010187711", "118030101877X"])
def test_wrong_corporate_numbers_fail(number: str) -> None:
    assert not is_corporate_number(number)


# -- organisations ---------------------------------------------------------------------------

def test_organisation_kind_follows_the_code() -> None:
    assert organisation_from_json({"id": "200000", "name": {"ja": "長野県"}}).kind \
        is OrgKind.PREFECTURE
    assert organisation_from_json({"id": "202011", "name": {"ja": "長野市"}}).kind \
        is OrgKind.MUNICIPALITY
    assert organisation_from_json({"id": "1180301018771", "name": {"ja": "トヨタ自動車"}}).kind \
        is OrgKind.PRIVATE


@pytest.mark.parametrize("body, words", [
    ({"id": "202012", "name": {"ja": "x"}}, "check digit"),
    ({"id": "1180301018772", "name": {"ja": "x"}}, "法人番号"),
    ({"id": "12345", "name": {"ja": "x"}}, "6-digit"),
    ({"id": "202011", "kind": "prefecture", "name": {"ja": "長野市"}}, "not a prefecture"),
    ({"id": "202011"}, "name is required"),
    ({"id": "202011", "name": {"en": "Nagano"}}, "ja is required"),
    ({"id": "202011", "name": {"ja": "長野市"}, "colour": "red"}, "unknown member"),
])
def test_bad_organisations_are_refused(body: dict, words: str) -> None:
    with pytest.raises(Invalid, match=words):
        organisation_from_json(body)


# -- rules -------------------------------------------------------------------------------------

def rule(types: list[str] = (), prefixes: list[str] = ()) -> MembershipRule:  # type: ignore[assignment]
    return MembershipRule(frozenset(V + t for t in types), tuple(prefixes))


def test_every_type_must_be_listed_and_the_id_must_have_a_prefix() -> None:
    r = rule(["RainGauge", "Device"], ["urn:ngsi-ld:WeatherObserved:nagano-"])
    assert r.matches("urn:ngsi-ld:WeatherObserved:nagano-1", [V + "RainGauge"])
    assert not r.matches("urn:ngsi-ld:WeatherObserved:ueda-1", [V + "RainGauge"])
    assert not r.matches("urn:ngsi-ld:WeatherObserved:nagano-1",
                         [V + "RainGauge", V + "Other"])
    assert MembershipRule(catch_all=True).matches("urn:x:1", [V + "Anything"])


@pytest.mark.parametrize("a, b, overlap", [
    (rule(["A"], ["urn:x:"]), rule(["A"], ["urn:x:sub-"]), True),     # one prefix in the other
    (rule(["A"], ["urn:x:a-"]), rule(["A"], ["urn:x:b-"]), False),    # disjoint prefixes
    (rule(["A"], ["urn:x:"]), rule(["B"], ["urn:x:"]), False),         # disjoint types
    (rule(["A", "B"]), rule(["B", "C"]), True),                         # a shared type
    (rule([], ["urn:x:"]), rule(["B"], ["urn:x:1"]), True),            # any type
    (rule(["A"]), rule(["A"], ["urn:y:"]), True),                       # any id
    (MembershipRule(catch_all=True), rule(["Z"], ["urn:z:"]), True),   # catch-all: everything
])
def test_overlap_is_exact(a: MembershipRule, b: MembershipRule, overlap: bool) -> None:
    assert a.overlaps(b) is overlap and b.overlaps(a) is overlap
    if overlap:  # a witness entity matches both
        types = sorted((a.entity_types & b.entity_types) or a.entity_types or b.entity_types
                       or {V + "T"})[:1]
        ids = sorted([*a.id_prefixes, *b.id_prefixes], key=len)
        eid = (ids[-1] if ids else "urn:x:") + "w"
        assert a.matches(eid, types) and b.matches(eid, types)


def ds(ds_id: str, owner: str, **rule_json: object) -> object:
    return dataset_from_json({"id": ds_id, "owner": owner, "name": {"ja": ds_id},
                              "rule": rule_json, "licence": "CC-BY-4.0",
                              "updateFrequency": "hourly"}, expand)


def test_registration_refuses_an_overlapping_rule_and_names_the_other() -> None:
    city = ds("nagano-rain", "202011", entityTypes=["RainGauge"],
              idPrefixes=["urn:ngsi-ld:WeatherObserved:nagano-"])
    other = ds("ueda-rain", "202037", entityTypes=["RainGauge"],
               idPrefixes=["urn:ngsi-ld:WeatherObserved:ueda-"])
    check_no_overlap([city], other)  # disjoint prefixes: accepted
    greedy = ds("all-rain", "200000", entityTypes=["RainGauge"])
    with pytest.raises(Invalid, match="nagano-rain, ueda-rain"):
        check_no_overlap([city, other], greedy)
    check_no_overlap([city], city)  # re-registering itself is no overlap


def test_owning_dataset_picks_the_one_match_or_none() -> None:
    a = ds("a", "202011", entityTypes=["RainGauge"], idPrefixes=["urn:w:nagano-"])
    b = ds("b", "202037", entityTypes=["RainGauge"], idPrefixes=["urn:w:ueda-"])
    c = ds("c", "202037", idPrefixes=["urn:lib:ueda-"])
    index = OwnershipIndex([a, b, c])
    assert index.owning_dataset("urn:w:ueda-1", [V + "RainGauge"]) is b
    assert index.owning_dataset("urn:lib:ueda-1", [V + "LibraryLoans"]) is c
    assert index.owning_dataset("urn:w:saku-1", [V + "RainGauge"]) is None
    assert index.owning_dataset("urn:w:nagano-1", [V + "Other"]) is None


@pytest.mark.parametrize("body, words", [
    ({"rule": {}}, "entityTypes or idPrefixes"),
    ({"rule": {"catchAll": True, "idPrefixes": ["urn:x:"]}}, "catch-all rule has no"),
    ({"rule": {"idPrefixes": ["nagano"]}}, "start of a URI"),
    ({"rule": {"entityTypes": ["bad name"]}}, "neither an IRI"),
    ({"licence": "WTFPL"}, "licence must be one of"),
    ({"updateFrequency": "sometimes"}, "updateFrequency"),
    ({"openData": True, "personalData": True}, "personal data cannot be open"),
    ({"openData": True, "licence": "proprietary"}, "open licence"),
    ({"contracts": ["Rainfall"]}, "unknown contract"),
    ({"id": "Nagano_Rain"}, "lower-case"),
    ({"owner": "202012"}, "check digit"),
])
def test_bad_datasets_are_refused(body: dict, words: str) -> None:
    base = {"id": "x", "owner": "202011", "name": {"ja": "x"},
            "rule": {"idPrefixes": ["urn:x:"]}, "licence": "CC-BY-4.0",
            "updateFrequency": "hourly"}
    with pytest.raises(Invalid, match=words):
        dataset_from_json({**base, **body}, expand)


def test_type_names_are_expanded_and_iris_kept() -> None:
    d = dataset_from_json({"id": "x", "owner": "202011", "name": {"ja": "x"},
                           "rule": {"entityTypes": ["RainGauge", "https://e.org/T"]},
                           "licence": "CC-BY-4.0", "updateFrequency": "daily"}, expand)
    assert d.rule.entity_types == {V + "RainGauge", "https://e.org/T"}


def test_runs_are_validated() -> None:
    run = run_from_json({"startedAt": "2026-12-01T09:00:00Z", "status": "succeeded",
                         "counts": {"read": 10, "written": 9, "quarantined": 1}}, "a")
    assert run.counts["written"] == 9
    for bad, words in [({"startedAt": "2026-12-01T09:00:00", "status": "succeeded"}, "offset"),
                       ({"startedAt": "2026-12-01T09:00:00Z", "status": "ok"}, "status"),
                       ({"startedAt": "2026-12-01T09:00:00Z", "status": "failed",
                         "counts": {"read": -1}}, "whole numbers"),
                       ({"startedAt": "2026-12-01T09:00:00Z", "status": "failed",
                         "finishedAt": "2026-12-01T08:00:00Z"}, "before")]:
        with pytest.raises(Invalid, match=words):
            run_from_json(bad, "a")


def test_who_may_change_a_record() -> None:
    from registry.service import may_change

    assert may_change(None, "202011", False)  # no identity system: nothing to check
    assert may_change("202011", "202011", False)
    assert not may_change("202037", "202011", False)
    assert not may_change("202037", None, False)  # registry-wide records
    assert may_change("200000", "202011", True)  # the configured operator
    assert not may_change("200000", "202011", False)  # a prefecture's code alone is not
    assert not may_change("1180301018771", "202011", False)
