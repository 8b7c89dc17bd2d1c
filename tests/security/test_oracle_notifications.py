"""The oracle for notifications: what a subscription delivers is no more than its subscriber
may receive (issue #12, "Checked by": notifications of every format with join, and
subscription status).

The worlds, the hub and the model are those of `test_oracle.py` (read its module docstring).
A subscription is evaluated as its subscriber with the `subscribe` action
(docs/access-control.md, "subscriptions" and "Whose rights"), so the model is asked with
that action: the same rules as reading, with two differences `authz.policies.decide` makes —
a grant counts only if it names `subscribe`, and the prefecture's default applies to `read`
only (it never receives ungranted data in notifications).

In each world every consumer (the prefecture, Nagano, Ueda, the firm) subscribes to every
entity type in every shape of `VARIANTS` — normalized, keyValues (as `simplified`),
concise, `join` inline and flat at `joinLevel` 2, a `q` on `a1`, `watchedAttributes`
`[a2]`, and a periodic `timeInterval` one — each to its own path of a real local receiver.
Then every owner changes `a1`, `a2` and `zone` of each of its entities, the test waits until
the change log and the change-driven queue are drained, and asserts:

1. every entity in every notification (the changed one, and every one a join inlined or
   added flat, at every level) is visible to the subscriber with `subscribe`, showing only
   attributes it may receive;
2. each change-driven subscription was notified of exactly the entities whose change it
   could see — visible, with a changed attribute it may receive, `a1` readable for the
   `q`, `a2` for `watchedAttributes` — once each (so a filter on an attribute it may not
   read never fires, and the oracle cannot pass vacuously);
3. a periodic notification shows exactly the subscriber's visible entities of its type;
4. the status (`timesSent`, `lastNotification`) counts exactly what arrived: non-zero only
   when the subscriber could see one of the changes;
5. a subscription refused (403) is one for a type of which the subscriber could receive
   no entity.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, example, given, note, settings

from tests.integration.authz_world import BASE, FIRM, JSON, NAGANO, PREF, UEDA, World
from tests.integration.receiver import Receiver
from tests.security.test_oracle import (
    NOT_ATTRIBUTES,
    PURPOSE,
    TOKEN,
    TYPES,
    DatasetSpec,
    EntitySpec,
    GrantSpec,
    Model,
    Reader,
    WorldSpec,
    build,
    hub,
    worlds,
)

__all__ = ["hub"]

EXAMPLES = int(os.environ.get("RENKEI_ORACLE_NOTIFY_EXAMPLES", "5"))
SUBSCRIBERS = (PREF, NAGANO, UEDA, FIRM)
S = BASE + "/subscriptions"
SUBSCRIBE = ("read", "subscribe")
#: the attributes every update changes
CHANGED = frozenset({"a1", "a2", "zone"})
#: name -> (subscription members, the attribute the subscriber must receive for it to fire)
VARIANTS: dict[str, tuple[dict[str, Any], str | None]] = {
    "normalized": ({}, None),
    "simplified": ({"notification": {"format": "simplified"}}, None),
    "concise": ({"notification": {"format": "concise"}}, None),
    "inline": ({"notification": {"join": "inline", "joinLevel": 2}}, None),
    "flat": ({"notification": {"join": "flat", "joinLevel": 2}}, None),
    "q": ({"q": "a1>=10", "notification": {"format": "keyValues"}}, "a1"),
    "watched": ({"watchedAttributes": ["a2"], "notification": {"format": "concise"}}, "a2"),
    "periodic": ({"timeInterval": 1}, None),
}
SETTLE_S = 30.0


@dataclass
class Sub:
    tag: str  # this example's: a late delivery of an earlier one is told apart
    consumer: str
    type: str
    variant: str
    id: str | None  # None: refused (403)

    @property
    def path(self) -> str:
        return f"/{self.tag}/{self.consumer}/{self.type}/{self.variant}"

    @property
    def periodic(self) -> bool:
        return self.variant == "periodic"


async def subscribe_all(w: World, model: Model, receiver: Receiver) -> list[Sub]:
    subs = []
    tag = uuid.uuid4().hex[:8]
    for consumer in SUBSCRIBERS:
        reader = Reader(w, model, consumer, "subscribe")
        for t in TYPES:
            for variant, (members, _) in VARIANTS.items():
                sub = Sub(tag, consumer, t, variant, None)
                body = {"type": "Subscription", "entities": [{"type": t}], **members,
                        "notification": {**members.get("notification", {}),
                                         "endpoint": {"uri": receiver.url(sub.path)}}}
                resp = await w.http.post(S, json=body, headers=w.auth(TOKEN[consumer], **JSON))
                assert resp.status in (201, 403), await resp.text()
                if resp.status == 403:
                    assert not reader.of_type(t), \
                        f"{sub.path}: refused, yet {sorted(reader.of_type(t))} are receivable"
                else:
                    sub.id = resp.headers["Location"].rsplit("/", 1)[-1]
                subs.append(sub)
    return subs


async def update_all(w: World, model: Model) -> None:
    """Every owner changes a1, a2 and zone of each of its entities (creating those it
    lacked), then the model learns each entity's new full attribute set."""
    for n, e in enumerate(model.world.entities):
        attrs = {"a1": {"type": "Property", "value": 10 + n},
                 "a2": {"type": "Property", "value": 100 + n},
                 "zone": {"type": "Property", "value": "C"}}
        resp = await w.http.post(BASE + f"/entities/{e.id}/attrs", json=attrs,
                                 headers=w.auth(TOKEN[e.dataset.owner], **JSON))
        assert resp.status == 204, await resp.text()
    for e in model.world.entities:
        resp = await w.http.get(BASE + f"/entities/{e.id}",
                                headers=w.auth(TOKEN[e.dataset.owner]))
        assert resp.status == 200, await resp.text()
        model.everything[e.id] = frozenset(await resp.json()) - NOT_ATTRIBUTES


def expected(model: Model, sub: Sub) -> set[str]:
    """The entities whose change `sub` must be notified of (for a periodic one: the
    entities each of its notifications must show)."""
    _, needs = VARIANTS[sub.variant]
    out = set()
    for e in model.world.entities:
        attrs = model.allowed(sub.consumer, e, "subscribe")
        if e.dataset.type != sub.type or attrs is None:
            continue
        if sub.periodic or (attrs & CHANGED and (needs is None or needs in attrs)):
            out.add(e.id)
    return out


async def settle(w: World, receiver: Receiver, want: dict[str, int]) -> None:
    """Wait (bounded) until the change log and every change-driven queue are empty and
    each path has at least what it should get; the assertions after say what is wrong."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_S
    while loop.time() < deadline:
        pending = await w.count(
            "SELECT (SELECT count(*) FROM ngsild.entity_changes)"
            " + (SELECT count(*) FROM ngsild.notifications n"
            "    JOIN ngsild.subscriptions s ON s.id = n.sub_id WHERE NOT s.periodic)")
        got = Counter(r.path for r in receiver.received)
        if not pending and all(got[p] >= n for p, n in want.items()):
            return
        await asyncio.sleep(0.1)


async def status(w: World, sub: Sub) -> dict[str, Any]:
    resp = await w.http.get(f"{S}/{sub.id}", headers=w.auth(TOKEN[sub.consumer]))
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = (await resp.json())["notification"]
    return body


async def check(w: World, model: Model, receiver: Receiver, subs: list[Sub]) -> None:
    readers = {c: Reader(w, model, c, "subscribe") for c in SUBSCRIBERS}
    by_path: dict[str, list[dict[str, Any]]] = {}
    for r in receiver.received:
        if subs and r.path.startswith(f"/{subs[0].tag}/"):
            by_path.setdefault(r.path, []).append(r.body)
    for sub in subs:
        notes = by_path.pop(sub.path, [])
        reader = readers[sub.consumer]
        for body in notes:  # 1: nothing beyond the model, anywhere in a notification
            reader.within(body["data"], f"{sub.path} {body['data']}")
        if sub.id is None:
            assert not notes, f"{sub.path}: refused, yet notified"
            continue
        want = expected(model, sub)
        if sub.periodic:  # 3
            for body in notes:
                shown = {e["id"] for e in body["data"]}
                assert shown == want, f"{sub.path}: shows {sorted(shown)}, not {sorted(want)}"
            assert bool(notes) == bool(want), f"{sub.path}: {len(notes)} for {sorted(want)}"
        else:  # 2: the changed entity comes first (flat joins append the linked ones)
            got = Counter(body["data"][0]["id"] for body in notes)
            assert got == Counter(want), \
                f"{sub.path}: notified of {dict(got)}, the model says {sorted(want)}"
        state = await status(w, sub)  # 4
        sent = state.get("timesSent", 0)
        if sub.periodic:
            assert (sent > 0) == bool(want), f"{sub.path}: status {state}"
        else:
            assert sent == len(notes), f"{sub.path}: status {state}, {len(notes)} arrived"
        assert ("lastNotification" in state) == (sent > 0), f"{sub.path}: status {state}"
    assert not by_path, f"notifications to no subscription: {sorted(by_path)}"


_GAUGE = DatasetSpec(NAGANO, "Gauge", "normal")
_RIVER_N = DatasetSpec(NAGANO, "River", "normal")
_RIVER_U = DatasetSpec(UEDA, "River", "normal")
_LOANS = DatasetSpec(UEDA, "Loans", "personal")
_LOAN = f"{_LOANS.prefix}0"
_RIVER_U0 = f"{_RIVER_U.prefix}0"
#: the prefecture reads Ueda's rivers by default but may subscribe only to Nagano's (a1
#: granted); the firm receives rain gauges (a1 and rel) whose relationships point at a
#: personal loan and at an ungranted river, which point back: joins must show neither
JOINS_AND_DEFAULTS = WorldSpec(
    [_GAUGE, _RIVER_N, _RIVER_U, _LOANS],
    [EntitySpec(f"{_GAUGE.prefix}0", _GAUGE, {"a1": 1}, "A", _LOAN),
     EntitySpec(f"{_GAUGE.prefix}1", _GAUGE, {"a2": 2}, None, _RIVER_U0),
     EntitySpec(f"{_RIVER_N.prefix}0", _RIVER_N, {"a1": 3, "a2": 4}, "B", _RIVER_U0),
     EntitySpec(_RIVER_U0, _RIVER_U, {"a1": 5}, "A", f"{_GAUGE.prefix}0"),
     EntitySpec(_LOAN, _LOANS, {"a1": 6}, "A", f"{_GAUGE.prefix}1")],
    [GrantSpec(PREF, _RIVER_N, False, ("a1",), False, PURPOSE, "now", SUBSCRIBE),
     GrantSpec(FIRM, _GAUGE, True, ("a1", "rel"), False, PURPOSE, "now", SUBSCRIBE),
     GrantSpec(FIRM, _RIVER_U, False, None, False, PURPOSE, "now", ("read",)),
     GrantSpec(NAGANO, _LOANS, False, None, True, PURPOSE, "now", SUBSCRIBE),
     GrantSpec(UEDA, _GAUGE, False, ("zone",), False, PURPOSE, "now", ("subscribe",))],
    False)


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(spec=worlds())
@example(spec=JOINS_AND_DEFAULTS)
async def test_no_notification_exceeds_the_policy(hub: World, spec: WorldSpec) -> None:
    note(f"world: {spec!r}")
    model = await build(hub, spec)
    note(f"grants in force after approval: {model.grants!r}")
    receiver = Receiver()
    await receiver.start()
    try:
        hub.allow_receiver(receiver.port)
        subs = await subscribe_all(hub, model, receiver)
        await update_all(hub, model)
        want = {s.path: len(expected(model, s)) for s in subs if s.id and not s.periodic}
        want.update({s.path: 1 for s in subs if s.id and s.periodic and expected(model, s)})
        await settle(hub, receiver, want)
        await check(hub, model, receiver, subs)
    finally:
        await receiver.stop()
