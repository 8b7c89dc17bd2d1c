"""Namespaces and the one term table of the contracts' JSON-LD ``@context``.

Every attribute and type name of every contract maps to exactly one IRI here. Where a
FIWARE Smart Data Model defines the name, the IRI is the one its domain context uses
(``https://smartdatamodels.org/dataModel.<Domain>/<term>``, or the SDM common namespace for
terms shared by all domains), so data published through Renkei means what SDM consumers
expect. A flat context can give a name only one IRI, so a term that several SDM domains
define (``refDevice``, ``dateObservedFrom``, ``occupancy``) takes the IRI of the domain
that owns the concept; docs/contracts.md lists the choices. Names SDM lacks live in
Renkei's own namespace. Names the NGSI-LD core context already defines (``location``,
``title``, ``description``) are left to it: the core has precedence and would shadow them.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "CONTEXT_PATH",
    "CONTEXT_URL",
    "CORE_TERMS",
    "RENKEI",
    "SDM",
    "TERMS",
    "iri",
]

CONTEXT_PATH: Final = "/contracts/v1/context.jsonld"
"""Where a hub serves the contracts' @context document (the path of ``CONTEXT_URL``)."""
CONTEXT_URL: Final = "https://renkei.example.jp" + CONTEXT_PATH
"""The stable name of the contracts' @context; hubs have it built in and never fetch it."""

SDM: Final = "https://smartdatamodels.org/"
RENKEI: Final = "https://renkei.example.jp/contracts/vocab/"

_WEATHER = SDM + "dataModel.Weather/"
_DEVICE = SDM + "dataModel.Device/"
_ENV = SDM + "dataModel.Environment/"
_TRANSPORT = SDM + "dataModel.Transportation/"
_POI = SDM + "dataModel.PointOfInterest/"
_ALERT = SDM + "dataModel.Alert/"


def _in(ns: str, *names: str) -> dict[str, str]:
    return {n: ns + n for n in names}


TERMS: Final[dict[str, str]] = {
    # SDM common terms
    **_in(
        SDM,
        "dateObserved",
        "name",
        "alternateName",
        "address",
        "contactPoint",
        "openingHoursSpecification",
        "dataProvider",
        "source",
    ),
    # dataModel.Weather
    **_in(
        _WEATHER,
        "WeatherObserved",
        "precipitation",
        "temperature",
        "relativeHumidity",
        "windSpeed",
        "windDirection",
        "atmosphericPressure",
        "snowHeight",
    ),
    # dataModel.Device (refDevice: the concept is a reference to a Device)
    **_in(
        _DEVICE,
        "Device",
        "refDevice",
        "controlledProperty",
        "deviceCategory",
        "serialNumber",
        "dateInstalled",
        "deviceState",
        "batteryLevel",
    ),
    # dataModel.Environment
    **_in(
        _ENV,
        "WaterObserved",
        "waterLevel",
        "flow",
        "FloodMonitoring",
        "alertLevel",
        "dangerLevel",
        "stationID",
    ),
    # dataModel.Transportation (dateObservedFrom/To also serve the library statistics)
    **_in(
        _TRANSPORT,
        "TrafficFlowObserved",
        "intensity",
        "laneDirection",
        "vehicleType",
        "dateObservedFrom",
        "dateObservedTo",
        "averageVehicleSpeed",
        "occupancy",
        "refRoadSegment",
        "laneId",
        "congested",
        "averageHeadwayTime",
        "averageVehicleLength",
        "reversedLane",
    ),
    # dataModel.PointOfInterest
    **_in(_POI, "PointOfInterest", "category"),
    # dataModel.Alert (its `category` takes the PointOfInterest IRI above: one flat context)
    **_in(_ALERT, "Alert", "subCategory", "severity", "alertSource", "dateIssued",
          "validFrom", "validTo"),
    # Renkei's own: quality, the Japanese flood thresholds SDM lacks, the library contracts
    **_in(
        RENKEI,
        "quality",
        "precipitationPeriod",
        "standbyLevel",
        "evacuationDecisionLevel",
        "LibraryCirculation",
        "LibraryLoanRanking",
        "refLibraryBranch",
        "libraryCode",
        "loans",
        "visitors",
        "reservations",
        "referenceQuestions",
        "loansByNdc",
        "rank",
        "author",
        "publisher",
        "ndc",
        "isbn",
        # the flood watch's figures on an Alert (services/flood_watch)
        "floodStage",
        "refFloodMonitoring",
        "levelObservedAt",
        "rise1h",
        "rise3h",
        "rainfall1h",
        "rainfall3h",
        "rainfall24h",
        "forecastLevel1h",
        "forecastLevel3h",
        "forecastModel",
    ),
}

CORE_TERMS: Final[dict[str, str]] = {
    "location": "https://uri.etsi.org/ngsi-ld/location",
    "title": "http://purl.org/dc/terms/title",
    "description": "http://purl.org/dc/terms/description",
}
"""Contract attributes whose names the NGSI-LD core context defines (and so expands)."""


def iri(term: str) -> str:
    """The expanded IRI of a contract term, core terms included; KeyError if unknown."""
    return CORE_TERMS.get(term) or TERMS[term]
