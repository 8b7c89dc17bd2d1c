"""What reading one source row can end as: entities, a quarantined row, or a skip.

Every row read yields exactly one outcome, which is what lets a run's counts reconcile
(read = written + quarantined + skipped) and proves nothing was silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Emit", "Outcome", "Quarantine", "Skip"]

Entity = dict[str, Any]


@dataclass
class Emit:
    """Row ``row`` of ``source`` became these NGSI-LD entities (normalized form)."""

    source: str
    row: int
    entities: list[Entity]
    #: the observation time of the row (ISO 8601), the incremental cursor's unit
    cursor: str | None = None
    #: what was repaired or is doubtful in the row though it was written (an NDC number
    #: given its lost zeros, a replacement character): counted in the run's ``flags``, for
    #: contracts without a ``quality`` attribute to carry it
    flags: tuple[str, ...] = ()


@dataclass
class Quarantine:
    """Row ``row`` could not be mapped; kept with its raw content and the reason."""

    source: str
    row: int
    raw: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "row": self.row, "raw": self.raw, "reason": self.reason}


@dataclass
class Skip:
    """Row ``row`` was read and deliberately not written (a documented reason)."""

    source: str
    row: int
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)


Outcome = Emit | Quarantine | Skip
