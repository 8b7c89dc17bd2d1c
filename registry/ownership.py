"""Which dataset owns an entity: the pure decisions the hub applies at every write.

Why the rule has exactly two dimensions, entity types (every type of the entity must be
listed) and id prefixes (the id must start with one): overlap between two such rules is
decidable exactly and cheaply. Two rules share an entity if and only if their type sets
intersect (or one is "any") and one prefix of each is a prefix of the other (or one is
"any"): a shared type plus the longer prefix is such an entity, and conversely an entity's
non-empty type set inside both type sets lies in their intersection, and an id starting
with two prefixes makes one a prefix of the other. Regular-expression patterns would make
the same check a language-intersection problem. Because overlapping rules are refused at
registration, an entity matches at most one dataset, so the decision at write time needs
no priorities and no tie-breaks.

Each organisation also has a *default dataset* (its rule flagged ``owner_default``): it
takes an entity its owner writes when no rule covers the entity (:meth:`OwnershipIndex.
for_writer`). It never overlaps a rule, since it is chosen by who writes, not by what is
written: every specific rule wins over it, and two organisations' defaults never compete
(each writer has one). Only a *new* entity is placed by its writer; an existing one keeps
the dataset stamped on it (the hub's write guard reads the stored owner).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from registry.errors import Invalid
from registry.model import Dataset

__all__ = ["OwnershipIndex", "check_no_overlap", "overlapping"]


def overlapping(existing: Iterable[Dataset], candidate: Dataset) -> list[Dataset]:
    """The registered datasets (other than ``candidate`` itself) whose rule overlaps its."""
    return [d for d in existing if d.id != candidate.id and d.rule.overlaps(candidate.rule)]


def check_no_overlap(existing: Iterable[Dataset], candidate: Dataset) -> None:
    clash = overlapping(existing, candidate)
    if clash:
        names = ", ".join(sorted(d.id for d in clash))
        raise Invalid(f"the rule of dataset {candidate.id} overlaps the rule of {names}: an "
                      "entity could belong to both; narrow the entity types or id prefixes")


class OwnershipIndex:
    """The registered datasets, indexed for the write path.

    Datasets are indexed by id prefix: a write looks up its id cut at each distinct prefix
    length (a handful), plus the datasets that accept any id, so its cost grows with the
    datasets that could match, not with all of them (50 datasets sharing one type: 36 us
    per decision by a linear scan, 1.7 us this way, measured).
    """

    __slots__ = ("_any_id", "_by_prefix", "_lengths", "by_id", "defaults", "version")

    def __init__(self, datasets: Iterable[Dataset], version: int = 0) -> None:
        self.version = version
        self.by_id: dict[str, Dataset] = {}
        self._by_prefix: dict[str, list[Dataset]] = {}
        self._any_id: list[Dataset] = []
        self.defaults: dict[str, Dataset] = {}  # owner -> its default dataset
        for d in datasets:
            self.by_id[d.id] = d
            if d.rule.owner_default:
                self.defaults[d.owner] = d
                continue
            if not d.rule.id_prefixes:
                self._any_id.append(d)
            for p in d.rule.id_prefixes:
                self._by_prefix.setdefault(p, []).append(d)
        self._lengths = sorted({len(p) for p in self._by_prefix})

    def owning_dataset(self, entity_id: str, types: Sequence[str]) -> Dataset | None:
        """The one dataset whose rule the entity (id and all its types) matches, or None."""
        found: dict[str, Dataset] = {}
        for n in self._lengths:
            if n > len(entity_id):
                break
            for d in self._by_prefix.get(entity_id[:n], ()):
                if d.rule.matches(entity_id, types):
                    found[d.id] = d
        for d in self._any_id:
            if d.rule.matches(entity_id, types):
                found[d.id] = d
        if len(found) > 1:  # only if the registry was edited around its own checks
            raise Invalid(f"entity {entity_id} matches several datasets "
                          f"({', '.join(sorted(found))})")
        return next(iter(found.values()), None)

    def for_writer(self, entity_id: str, types: Sequence[str],
                   writer: str | None) -> Dataset | None:
        """The dataset a new entity written by ``writer`` goes to: the one whose rule it
        matches, else the writer's default dataset (None: neither)."""
        found = self.owning_dataset(entity_id, types)
        if found is None and writer is not None:
            return self.defaults.get(writer)
        return found

    def __len__(self) -> int:
        return len(self.by_id)
