"""The access decisions (authz/policies.py) and request validation, without a database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from authz.model import Consumer, Grant, OrgKind, Resource, organisation_kind
from authz.policies import (
    Defaults,
    aggregated_grants,
    covers_personal_data,
    decide,
    read_scope,
)
from authz.requests import client_from, grant_from, is_full_iri

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
NAGANO, UEDA, PREF, FIRM = "202011", "202037", "200000", "1234567890123"
RAIN = "https://smartdatamodels.org/dataModel.Weather/WeatherObserved"
PRECIP = "https://smartdatamodels.org/dataModel.Weather/precipitation"
TEMP = "https://smartdatamodels.org/dataModel.Weather/temperature"


def firm(purpose: str | None = "flood-app", scopes: tuple[str, ...] = ("read", "subscribe"),
         client: str = "c-firm") -> Consumer:
    return Consumer(organisation=FIRM, client_id=client, subject=client,
                    scopes=frozenset(scopes), purpose=purpose)


def grant(**kw: object) -> Grant:
    base: dict[str, object] = dict(
        id="g1", consumer_org=FIRM, owner_org=NAGANO, actions=("read",), purpose="flood-app",
        valid_from=NOW - timedelta(days=1), valid_until=NOW + timedelta(days=1),
        dataset="nagano-rain")
    base.update(kw)
    return Grant(**base)  # type: ignore[arg-type]


RES = Resource(owner=NAGANO, dataset="nagano-rain", types=(RAIN,))


def test_organisation_kinds_follow_the_identifier_shape() -> None:
    assert organisation_kind(PREF) is OrgKind.PREFECTURE
    assert organisation_kind(NAGANO) is OrgKind.MUNICIPALITY
    assert organisation_kind(FIRM) is OrgKind.PRIVATE


def test_private_partner_is_denied_by_default() -> None:
    d = decide(firm(), RES, "read", now=NOW)
    assert not d.allowed and d.rule == "default-deny"


def test_approved_grant_in_period_with_purpose_allows_its_attributes() -> None:
    d = decide(firm(), RES, "read", grants=[grant(attributes=(PRECIP,))], now=NOW)
    assert d.allowed and d.rule == "grant" and d.grant_id == "g1"
    assert d.attributes == frozenset({PRECIP})


@pytest.mark.parametrize("change", [
    {"status": "requested"}, {"status": "rejected"}, {"status": "revoked"},
    {"valid_until": NOW - timedelta(seconds=1)}, {"valid_from": NOW + timedelta(hours=1)},
    {"purpose": "marketing"}, {"consumer_client": "another-client"},
    {"dataset": "ueda-rain"}, {"actions": ("subscribe",)}, {"consumer_org": "9999999999999"},
])
def test_a_grant_that_does_not_fit_does_not_apply(change: dict[str, object]) -> None:
    assert not decide(firm(), RES, "read", grants=[grant(**change)], now=NOW).allowed


def test_no_declared_purpose_matches_no_grant() -> None:
    assert not decide(firm(purpose=None), RES, "read", grants=[grant()], now=NOW).allowed


def test_owner_and_type_grant_needs_the_full_type_iri() -> None:
    g = grant(dataset=None, entity_type=RAIN)
    assert decide(firm(), RES, "read", grants=[g], now=NOW).allowed
    other = Resource(owner=NAGANO, dataset="nagano-rain", types=("https://ex.org/Other",))
    assert not decide(firm(), other, "read", grants=[g], now=NOW).allowed
    ueda = Resource(owner=UEDA, dataset="ueda-rain", types=(RAIN,))
    assert not decide(firm(), ueda, "read", grants=[g], now=NOW).allowed


def test_nobody_but_the_owner_writes_whatever_the_grants() -> None:
    writer = firm(scopes=("read", "write"))
    d = decide(writer, RES, "write", grants=[grant(actions=("read", "write"))], now=NOW)
    assert not d.allowed and d.rule == "owner-only-write"
    owner = Consumer(organisation=NAGANO, client_id="c", scopes=frozenset({"write"}))
    assert decide(owner, RES, "write", now=NOW).rule == "owner"


def test_scopes_bound_the_token() -> None:
    owner = Consumer(organisation=NAGANO, client_id="c", scopes=frozenset({"read"}))
    assert decide(owner, RES, "write", now=NOW).rule == "scope"


def test_anonymous_reads_open_data_only_and_never_writes() -> None:
    anon = Consumer()
    open_res = Resource(owner=NAGANO, dataset="open", open_data=True)
    assert decide(anon, open_res, "read", now=NOW).rule == "open-data"
    assert not decide(anon, open_res, "write", now=NOW).allowed
    assert not decide(anon, open_res, "subscribe", now=NOW).allowed
    assert not decide(anon, RES, "read", now=NOW).allowed


def test_aggregated_only_grant_never_yields_raw_entities() -> None:
    d = decide(firm(), RES, "read", grants=[grant(granularity="aggregated", min_group_size=10)],
               now=NOW)
    assert not d.allowed and d.aggregated_only and d.min_group_size == 10


def test_defaults_are_configurable_and_skip_personal_data() -> None:
    pref = Consumer(organisation=PREF, client_id="p", scopes=frozenset({"read"}))
    ueda = Consumer(organisation=UEDA, client_id="u", scopes=frozenset({"read"}))
    assert decide(pref, RES, "read", now=NOW).rule == "prefecture-default"
    assert not decide(pref, RES, "read", defaults=Defaults(prefecture="deny"), now=NOW).allowed
    assert not decide(ueda, RES, "read", now=NOW).allowed
    assert decide(ueda, RES, "read", defaults=Defaults(municipality="read"),
                  now=NOW).rule == "municipality-default"
    personal = Resource(owner=NAGANO, dataset="loans", personal_data=True)
    assert not decide(pref, personal, "read", now=NOW).allowed
    with pytest.raises(ValueError):
        Defaults(prefecture="write")


def test_read_scope_states_the_same_rules_for_a_query() -> None:
    grants = [grant(attributes=(PRECIP,), rate_per_minute=30),
              grant(id="g2", dataset=None, entity_type=RAIN, owner_org=UEDA),
              grant(id="g3", dataset="other", status="revoked")]
    scope = read_scope(firm(), grants=grants, now=NOW)
    assert scope.datasets == {"nagano-rain": frozenset({PRECIP})}
    assert scope.owner_types == {(UEDA, RAIN): None}
    assert scope.rate_per_minute == 30 and not scope.default_read
    assert read_scope(Consumer(), now=NOW).datasets == {}


def test_full_iris_only() -> None:
    assert is_full_iri(RAIN) and is_full_iri("urn:ngsi-ld:Type:x")
    assert not is_full_iri("WeatherObserved") and not is_full_iri("ex:WeatherObserved")


def _request(**kw: object) -> dict[str, object]:
    body: dict[str, object] = {"dataset": "nagano-rain", "actions": ["read"],
                               "purpose": "flood-app", "valid_from": "2026-12-01T00:00:00Z",
                               "valid_until": "2027-03-31T00:00:00+09:00"}
    body.update(kw)
    return body


@pytest.mark.parametrize("bad", [
    {"actions": ["write"]}, {"actions": []}, {"purpose": ""},
    {"valid_until": "2026-11-30T00:00:00Z"}, {"valid_from": "2026-12-01"},
    {"attributes": ["precipitation"]}, {"granularity": "aggregated"},
    {"dataset": None, "entity_type": "WeatherObserved", "owner": NAGANO},
    {"entity_type": RAIN}, {"rate_per_minute": 0},
])
def test_bad_grant_requests_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        grant_from(_request(**bad), FIRM, owner_of_dataset=NAGANO, personal_data=False)


def test_grant_requests() -> None:
    g = grant_from(_request(attributes=[PRECIP]), FIRM, owner_of_dataset=NAGANO,
                   personal_data=False)
    assert g.status == "requested" and g.owner_org == NAGANO and g.attributes == (PRECIP,)
    with pytest.raises(ValueError, match="no dataset"):
        grant_from(_request(), FIRM, owner_of_dataset=None, personal_data=False)
    with pytest.raises(ValueError, match="aggregated"):
        grant_from(_request(), FIRM, owner_of_dataset=NAGANO, personal_data=True)
    agg = grant_from(_request(granularity="aggregated", min_group_size=5), FIRM,
                     owner_of_dataset=NAGANO, personal_data=True)
    assert agg.granularity == "aggregated" and agg.min_group_size == 5
    with pytest.raises(ValueError, match="own data"):
        grant_from(_request(), NAGANO, owner_of_dataset=NAGANO, personal_data=False)


def test_client_requests() -> None:
    c = client_from({"name": "app", "scopes": ["read"]}, FIRM, "rk-1", "hash")
    assert c.scopes == ("read",) and c.secret_hash == "hash"
    for bad in ({"name": ""}, {"name": "x", "scopes": ["admin"]},
                {"name": "x", "auth_method": "private_key_jwt"},
                {"name": "x", "auth_method": "private_key_jwt",
                 "jwks": {"keys": [{"kty": "EC", "d": "secret"}]}}):
        with pytest.raises(ValueError):
            client_from(bad, FIRM, "rk-1", None)


def test_aggregated_grants_are_those_in_force_for_the_consumer() -> None:
    agg = grant(id="g-agg", granularity="aggregated", min_group_size=5)
    raw = grant(id="g-raw")
    ended = grant(id="g-old", granularity="aggregated", min_group_size=5,
                  valid_until=NOW - timedelta(seconds=1))
    got = aggregated_grants(firm(), grants=[agg, raw, ended], now=NOW)
    assert [g.id for g in got] == ["g-agg"]
    assert aggregated_grants(firm(purpose="marketing"), grants=[agg], now=NOW) == []
    assert aggregated_grants(firm(scopes=("subscribe",)), grants=[agg], now=NOW) == []
    assert aggregated_grants(Consumer(), grants=[agg], now=NOW) == []
    # and such a grant never yields raw entities
    assert not decide(firm(), RES, "read", grants=[agg], now=NOW).allowed


# -- personal data is never raw (issue #12, class 4) ------------------------------------

@dataclass(frozen=True)
class _Dataset:
    id: str
    owner: str
    personal_data: bool = False
    entity_types: frozenset[str] = frozenset()


LOANS = "https://example.org/Loans"
CATALOGUE = [_Dataset("nagano-rain", NAGANO, entity_types=frozenset({RAIN})),
             _Dataset("ueda-loans", UEDA, True, frozenset({LOANS})),
             _Dataset("ueda-anything", "202045", True)]


def test_a_raw_grant_never_reaches_personal_data_at_decision_time() -> None:
    personal = Resource(owner=UEDA, dataset="ueda-loans", types=(LOANS,), personal_data=True)
    typed = grant(dataset=None, owner_org=UEDA, entity_type=LOANS)
    by_dataset = grant(dataset="ueda-loans", owner_org=UEDA)
    for raw in (typed, by_dataset):
        d = decide(firm(), personal, "read", grants=[raw], now=NOW)
        assert not d.allowed and not d.aggregated_only and d.rule == "default-deny"
    # the same grant still reads when the data is not personal
    plain = Resource(owner=UEDA, dataset="ueda-loans", types=(LOANS,))
    assert decide(firm(), plain, "read", grants=[typed], now=NOW).allowed
    # an aggregated grant on the same data stays what it was: aggregated only
    agg = decide(firm(), personal, "read", now=NOW, grants=[
        typed, grant(id="g2", dataset=None, owner_org=UEDA, entity_type=LOANS,
                     granularity="aggregated", min_group_size=5)])
    assert not agg.allowed and agg.aggregated_only and agg.grant_id == "g2"


def test_covers_personal_data_by_dataset_or_by_owner_and_type() -> None:
    assert covers_personal_data("ueda-loans", None, None, CATALOGUE)
    assert not covers_personal_data("nagano-rain", None, None, CATALOGUE)
    assert covers_personal_data(None, UEDA, LOANS, CATALOGUE)
    assert not covers_personal_data(None, UEDA, RAIN, CATALOGUE)  # rule admits only Loans
    assert not covers_personal_data(None, NAGANO, RAIN, CATALOGUE)
    # a personal dataset whose rule names no types admits any type: fail closed
    assert covers_personal_data(None, "202045", RAIN, CATALOGUE)
    # what the caller sent that is not a string reaches nothing (refused elsewhere)
    assert not covers_personal_data(None, [UEDA], LOANS, CATALOGUE)
    assert not covers_personal_data(None, UEDA, {"x": LOANS}, CATALOGUE)
