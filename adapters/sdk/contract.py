"""Building contract entities: validate with the contract model, emit NGSI-LD.

Every entity an adapter emits goes through its contract's pydantic model first, so a row
that would break the contract (a negative rain amount, a humidity of 4.5, an ISBN with a
wrong check digit) is quarantined with the model's own message instead of reaching the
hub. The NGSI-LD form is ``contracts.to_ngsi_ld``'s (one definition of it). The entities
travel without an inline ``@context``: the sink names the contracts' context in a ``Link``
header (``contracts.LINK_HEADER``).

A row that fans out into many entities sharing most values builds them with ``build_row``
from a ``contracts.RowTemplate``: the same validation, split so the shared values are
checked once per row, the same entities and the same refusals as ``build`` entity by entity.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from contracts import Contract, TemplateRow, to_ngsi_ld

__all__ = ["ContractError", "build", "build_row"]


class ContractError(ValueError):
    """The values do not make a valid contract entity (the row is quarantined)."""


def build(model: type[Contract], **values: Any) -> dict[str, Any]:
    """The normalized NGSI-LD entity of ``model(**values)``; None values are left out."""
    try:
        # model_validate's own validator, not model(**...) nor its Python wrapper: the values
        # are already a dict, and this runs once per entity (the same validation and errors)
        instance = model.__pydantic_validator__.validate_python(
            {k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        raise _refusal(model, exc) from None
    return to_ngsi_ld(instance, include_context=False)


def build_row(row: TemplateRow, **columns: Sequence[Any]) -> list[dict[str, Any]]:
    """``build(row's model, **shared, **entity's values)`` for each entity of the columns
    (attribute -> one value per entity), in order; the first refusal is raised as
    ``build`` raises it."""
    try:
        return row.entities(**columns)
    except ValidationError as exc:
        raise _refusal(row.model, exc) from None


def _refusal(model: type[Contract], exc: ValidationError) -> ContractError:
    parts = [f"{'.'.join(str(p) for p in e['loc']) or model.__name__}: {e['msg']}"
             for e in exc.errors()]
    return ContractError(f"{model.__name__} contract: " + "; ".join(parts))
