"""Renkei's shared data contracts (see docs/contracts.md and docs/architecture.md).

Pure: pydantic models, the JSON-LD @context and JSON Schemas, and functions over them; no
I/O and nothing else of ours imported. This module is the stable public API: import from
``contracts``, not from its submodules.
"""

from contracts.alert import Alert
from contracts.base import Contract, LineString, Observation, Point, Quality
from contracts.catalog import CONTRACTS, ContractInfo, contract, contract_for_type, schema_id
from contracts.context import CONTEXT, context_document
from contracts.isbn import (
    InvalidIsbn,
    is_isbn13,
    isbn10_check_digit,
    isbn13_check_digit,
    normalize_isbn,
)
from contracts.library import (
    LibraryCirculation,
    LibraryLoanRanking,
    PointOfInterest,
    PostalAddress,
)
from contracts.ngsi import LINK_HEADER, to_ngsi_ld
from contracts.stored import Violation, validate_stored
from contracts.suppression import (
    DEFAULT_MIN_GROUP_SIZE,
    is_publishable,
    suppress_small_groups,
    suppress_small_rankings,
)
from contracts.template import RowTemplate, TemplateRow
from contracts.traffic import TrafficFlowObserved
from contracts.vocab import CONTEXT_PATH, CONTEXT_URL, RENKEI, SDM, iri
from contracts.water import FloodMonitoring, WaterObserved
from contracts.weather import Device, WeatherObserved

__all__ = [
    "CONTEXT",
    "CONTEXT_PATH",
    "CONTEXT_URL",
    "CONTRACTS",
    "DEFAULT_MIN_GROUP_SIZE",
    "LINK_HEADER",
    "RENKEI",
    "SDM",
    "Alert",
    "Contract",
    "ContractInfo",
    "Device",
    "FloodMonitoring",
    "InvalidIsbn",
    "LibraryCirculation",
    "LibraryLoanRanking",
    "LineString",
    "Observation",
    "Point",
    "PointOfInterest",
    "PostalAddress",
    "Quality",
    "RowTemplate",
    "TemplateRow",
    "TrafficFlowObserved",
    "Violation",
    "WaterObserved",
    "WeatherObserved",
    "context_document",
    "contract",
    "contract_for_type",
    "iri",
    "is_isbn13",
    "is_publishable",
    "isbn10_check_digit",
    "isbn13_check_digit",
    "normalize_isbn",
    "schema_id",
    "suppress_small_groups",
    "suppress_small_rankings",
    "to_ngsi_ld",
    "validate_stored",
]
