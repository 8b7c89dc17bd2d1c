"""Access is structure: no code path reads or decides without naming whose rights it uses.

The last review found background work running as an all-permissive default caller. These
tests hold the structure that replaced it: there is no default caller (every decision
outside a caller raises), a caller without access state is refused outside development
mode, only reviewed modules construct callers or set the current one, and only reviewed
modules touch the entity store (each of them through an access decision).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from hub.service import access
from hub.service.access_caller import (
    Caller,
    NoCaller,
    acting_as,
    current,
    enforced,
    system_caller,
)

HUB = Path(__file__).resolve().parents[2] / "hub"


def _entity() -> dict[str, object]:
    return {"id": "urn:ngsi-ld:Gauge:x", "types": ["https://example.org/Gauge"],
            "attrs": {"https://example.org/rain": [{"type": "Property", "value": 1}]}}


def test_no_default_caller() -> None:
    with pytest.raises(NoCaller):
        current()
    with pytest.raises(NoCaller):
        access.visible(_entity())
    with pytest.raises(NoCaller):
        access.visible_rows([_entity()])
    with pytest.raises(NoCaller):
        access.entity_source("ngsild")
    with pytest.raises(NoCaller):
        access.calling_organisation()


def test_a_caller_without_state_is_refused_not_allowed() -> None:
    stateless = Caller(operation="forgot the state")
    with pytest.raises(NoCaller):
        enforced(stateless)
    with acting_as(stateless), pytest.raises(NoCaller):
        access.visible(_entity())
    with pytest.raises(NoCaller):
        access.may_see(stateless, _entity())


def test_acting_as_is_scoped() -> None:
    dev = Caller(dev=True, operation="test")
    with acting_as(dev):
        assert access.visible(_entity()) is not None
    with pytest.raises(NoCaller):
        current()


def test_system_tasks_are_named_and_listed() -> None:
    assert system_caller("sample-data").operation == "system:sample-data"
    with pytest.raises(NoCaller):
        system_caller("anything-else")


def _calls(tree: ast.AST, name: str) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if (isinstance(f, ast.Name) and f.id == name) or (
                    isinstance(f, ast.Attribute) and f.attr == name):
                return True
    return False


def _modules() -> dict[str, ast.AST]:
    return {str(p.relative_to(HUB.parent)): ast.parse(p.read_text(), str(p))
            for p in HUB.rglob("*.py")}


#: the only modules that build a ``Caller`` (request, subscriber, system task, and the
#: definitions themselves)
CALLER_MAKERS = {"hub/service/access.py", "hub/service/access_caller.py"}

#: the only modules that make a caller current
CALLER_SETTERS = {"hub/service/access.py", "hub/service/access_caller.py",
                  "hub/subscriptions/matcher.py", "hub/subscriptions/runtime.py"}

#: modules that import the entity/temporal/aggregate store, each reviewed: it passes what
#: it reads through an access decision (or only writes / reads the hub's own tables)
STORE_READERS = {
    "hub/api/aggregates.py": "aggregate_condition in SQL",
    "hub/api/batch.py": "visible() per entity; refuse_deletes; write guard",
    "hub/api/contexts.py": "hosted @context documents (public by design)",
    "hub/api/csources.py": "registrations (authenticated readers), owner-only changes;"
                           " entity existence only as visible() shows it",
    "hub/federation/csource_subscriptions.py": "registrations only, no entity data;"
                                               " the subscriber checked at send time",
    "hub/api/discovery.py": "entity_source (the caller's view) for /types, /attributes;"
                            " remote names admitted by hub/federation/discovery.py",
    "hub/federation/subscriptions.py": "the one subscription a source's notification"
                                       " serves; matched as its subscriber (matcher)",
    "hub/federation/forward.py": "active registrations only (no entity data); remote"
                                 " entities pass visible() as the owner's data (reads.admit)",
    "hub/api/entities.py": "service layer: require_visible / restrict / visible_rows",
    "hub/api/registry.py": "counts of the caller's own datasets",
    "hub/api/subscriptions.py": "subscriptions of the caller's organisation only",
    "hub/api/temporal.py": "temporal_condition + decide_stored, stored owner",
    "hub/cli_registry.py": "the operator's command line, on the database directly",
    "hub/jsonld/remote.py": "@context documents",
    "hub/sample.py": "system task sample-data (writes)",
    "hub/service/access.py": "the enforcement point",
    "hub/service/entities.py": "require_visible / restrict / visible_rows",
    "hub/service/history.py": "no entity reads: partition DDL and the registry's retention",
    "hub/service/linked.py": "visible() per linked entity",
    "hub/service/selection.py": "builds the SQL with the caller's access condition",
    "hub/service/temporal_query.py": "decide_stored per entity, readable attributes in SQL",
    "hub/service/temporal_writes.py": "deletion history: the stored owner, decide_stored",
    "hub/service/ownership.py": "stored owners for the write guard",
    "hub/store/aggregates.py": "the store itself",
    "hub/store/temporal.py": "the store itself",
    "hub/subscriptions/delivery.py": "notification queue (payloads decided as subscriber)",
    "hub/subscriptions/matcher.py": "change log, evaluated acting as the subscriber",
    "hub/subscriptions/runtime.py": "periodic queries acting as the subscriber",
}


def test_only_reviewed_modules_make_or_set_callers() -> None:
    for name, tree in _modules().items():
        if _calls(tree, "Caller"):
            assert name in CALLER_MAKERS, f"{name} builds a Caller: name whose rights instead"
        sets = any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                   and n.func.attr == "set" and isinstance(n.func.value, ast.Name)
                   and n.func.value.id == "CALLER" for n in ast.walk(tree))
        if sets or _calls(tree, "acting_as"):
            assert name in CALLER_SETTERS, f"{name} makes a caller current"


def test_only_reviewed_modules_read_the_store() -> None:
    readers = set()
    for name, tree in _modules().items():
        if name.startswith("hub/store/") and name != "hub/store/aggregates.py" \
                and name != "hub/store/temporal.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and (
                    node.module == "hub.store" or node.module.startswith("hub.store.")):
                readers.add(name)
    unreviewed = readers - set(STORE_READERS)
    assert not unreviewed, f"new store readers, review their access decision: {unreviewed}"
