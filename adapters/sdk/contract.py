"""Building contract entities: validate with the contract model, emit NGSI-LD.

Every entity an adapter emits goes through its contract's pydantic model first, so a row
that would break the contract (a negative rain amount, a humidity of 4.5, an ISBN with a
wrong check digit) is quarantined with the model's own message instead of reaching the
hub. The NGSI-LD form is ``contracts.to_ngsi_ld``'s (one definition of it). The entities
travel without an inline ``@context``: the sink names the contracts' context in a ``Link``
header (``contracts.LINK_HEADER``).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from contracts import Contract, to_ngsi_ld

__all__ = ["ContractError", "build"]


class ContractError(ValueError):
    """The values do not make a valid contract entity (the row is quarantined)."""


def build(model: type[Contract], **values: Any) -> dict[str, Any]:
    """The normalized NGSI-LD entity of ``model(**values)``; None values are left out."""
    try:
        # model_validate, not model(**...): the values are already a dict, and this runs
        # once per entity (the same validation, the same errors)
        instance = model.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        parts = [f"{'.'.join(str(p) for p in e['loc']) or model.__name__}: {e['msg']}"
                 for e in exc.errors()]
        raise ContractError(f"{model.__name__} contract: " + "; ".join(parts)) from None
    return to_ngsi_ld(instance, include_context=False)
