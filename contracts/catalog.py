"""The one registry of contracts: name -> version, model, type IRI, terms, JSON Schema.

A contract's version follows semantic versioning: a new optional attribute is a minor
version, anything that can make valid data invalid (a new required attribute, a tighter
range, a changed unit) is a major version and a new ``context`` URL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final

from contracts.alert import Alert
from contracts.base import Contract, Observation
from contracts.library import LibraryCirculation, LibraryLoanRanking, PointOfInterest
from contracts.traffic import TrafficFlowObserved
from contracts.vocab import CONTEXT_URL, iri
from contracts.water import FloodMonitoring, WaterObserved
from contracts.weather import Device, WeatherObserved

__all__ = ["CONTRACTS", "ContractInfo", "contract", "contract_for_type", "schema_id"]

SCHEMA_BASE: Final = "https://renkei.example.jp/contracts"


def schema_id(name: str, version: str) -> str:
    """The stable URL of a contract's JSON Schema (its ``$id``); a hub serves the path."""
    return f"{SCHEMA_BASE}/{name}/{version}/schema.json"


@dataclass(frozen=True)
class ContractInfo:
    """One contract: its model and everything derived from it."""

    name: str
    version: str
    model: type[Contract]
    summary: str
    sdm: str | None = None  # the Smart Data Model it follows, None for Renkei's own
    context_url: str = field(default=CONTEXT_URL)

    @property
    def type_iri(self) -> str:
        return iri(self.name)

    @property
    def is_observation(self) -> bool:
        return issubclass(self.model, Observation)

    @property
    def attributes(self) -> tuple[str, ...]:
        """The contract's attribute short names (``id`` and ``type`` excluded)."""
        return tuple(n for n in self.model.model_fields if n not in ("id", "type"))

    @property
    def terms(self) -> dict[str, str]:
        """The @context terms the contract uses (its type and attributes) -> IRI."""
        return {self.name: self.type_iri, **{a: iri(a) for a in self.attributes}}

    @cached_property
    def json_schema(self) -> dict[str, Any]:
        """The model's JSON Schema (pydantic, draft 2020-12) with ``$id`` and version."""
        schema = self.model.model_json_schema()
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": schema_id(self.name, self.version),
            "x-contract": {
                "name": self.name,
                "version": self.version,
                "typeIri": self.type_iri,
                "context": self.context_url,
                **({"smartDataModel": self.sdm} if self.sdm else {}),
            },
            **schema,
        }


_SDM = "https://github.com/smart-data-models/"
CONTRACTS: Final[dict[str, ContractInfo]] = {
    c.name: c
    for c in (
        ContractInfo(
            "WeatherObserved",
            "1.0.0",
            WeatherObserved,
            "Rain gauge / weather station observation",
            _SDM + "dataModel.Weather",
        ),
        ContractInfo(
            "Device",
            "1.0.0",
            Device,
            "A measuring device (gauge, counter)",
            _SDM + "dataModel.Device",
        ),
        ContractInfo(
            "WaterObserved",
            "1.0.0",
            WaterObserved,
            "River water level",
            _SDM + "dataModel.Environment",
        ),
        ContractInfo(
            "FloodMonitoring",
            "1.0.0",
            FloodMonitoring,
            "A station's flood warning thresholds",
            _SDM + "dataModel.Environment",
        ),
        ContractInfo(
            "TrafficFlowObserved",
            "1.0.0",
            TrafficFlowObserved,
            "Traffic count over a period",
            _SDM + "dataModel.Transportation",
        ),
        ContractInfo(
            "PointOfInterest",
            "1.0.0",
            PointOfInterest,
            "A library branch",
            _SDM + "dataModel.PointOfInterest",
        ),
        ContractInfo(
            "LibraryCirculation",
            "1.0.0",
            LibraryCirculation,
            "Aggregated circulation of a branch over a period",
        ),
        ContractInfo(
            "LibraryLoanRanking", "1.0.0", LibraryLoanRanking, "One entry of a most-loaned ranking"
        ),
        ContractInfo(
            "Alert",
            "1.0.0",
            Alert,
            "A river station's flood stage (flood watch)",
            _SDM + "dataModel.Alert",
        ),
    )
}
"""Every contract by name (= its NGSI-LD type short name)."""

_BY_TYPE: Final = {c.type_iri: c for c in CONTRACTS.values()}


def contract(name: str) -> ContractInfo:
    """The contract called ``name``; KeyError if there is none."""
    return CONTRACTS[name]


def contract_for_type(type_iri: str) -> ContractInfo | None:
    """The contract whose type has the expanded IRI ``type_iri``, or None."""
    return _BY_TYPE.get(type_iri)
