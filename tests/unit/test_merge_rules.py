from __future__ import annotations

from hub.ngsild.attributes import DELETE
from hub.ngsild.merge import append_attrs, delete_attr, merge_attrs, update_attrs

A = "https://ex.org/a"
B = "https://ex.org/b"
SUB = "https://ex.org/accuracy"


def inst(value: object, ds: str | None = None, t: str = "T0") -> dict:
    out = {"type": "Property", "value": value, "createdAt": t, "modifiedAt": t}
    if ds:
        out["datasetId"] = ds
    return out


def test_append_overwrites_but_keeps_created_at() -> None:
    stored = {A: [inst(1)]}
    updated, skipped = append_attrs(stored, {A: [inst(2, t="T1")]}, no_overwrite=False)
    assert updated == [A] and skipped == []
    assert stored[A][0]["value"] == 2 and stored[A][0]["createdAt"] == "T0"


def test_append_no_overwrite_reports_existing() -> None:
    stored = {A: [inst(1)]}
    updated, skipped = append_attrs(stored, {A: [inst(2)], B: [inst(3)]}, no_overwrite=True)
    assert updated == [B] and [s[0] for s in skipped] == [A]
    assert stored[A][0]["value"] == 1


def test_append_new_dataset_instance_adds() -> None:
    stored = {A: [inst(1)]}
    append_attrs(stored, {A: [inst(5, "urn:ds:1")]}, no_overwrite=True)
    assert [i.get("datasetId") for i in stored[A]] == [None, "urn:ds:1"]


def test_update_appends_what_does_not_exist_yet() -> None:
    stored = {A: [inst(1)]}
    updated, skipped = update_attrs(stored, {A: [inst(2), inst(4, "urn:ds:1")], B: [inst(3)]})
    assert updated == [A, B] and not skipped
    assert [i["value"] for i in stored[A]] == [2, 4] and stored[B][0]["value"] == 3


def test_merge_deletes_and_merges_sub_attributes() -> None:
    stored = {A: [{**inst(1), SUB: inst(0.1)}], B: [inst(2)]}
    merge_attrs(stored, {B: DELETE, A: [{"value": 3, SUB: {"type": "Property", "value": 0.2},
                                          "modifiedAt": "T2"}]}, "T2")
    assert B not in stored
    assert stored[A][0]["value"] == 3 and stored[A][0][SUB]["value"] == 0.2
    assert stored[A][0]["createdAt"] == "T0" and stored[A][0]["modifiedAt"] == "T2"


def test_delete_attr_by_dataset_and_all() -> None:
    stored = {A: [inst(1), inst(2, "urn:ds:1")]}
    assert delete_attr(stored, A, "urn:ds:1", delete_all=False)
    assert [i["value"] for i in stored[A]] == [1]
    assert not delete_attr(stored, A, "urn:ds:9", delete_all=False)
    assert delete_attr(stored, A, None, delete_all=True) and A not in stored
    assert not delete_attr(stored, A, None, delete_all=True)
