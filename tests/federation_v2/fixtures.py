"""NGSI v2 entities in the shapes Orion returns them (normalized representation).

The values are ours; each shape is one that public FIWARE documentation shows Orion
returning, cited per fixture:

* ``ROOM`` — Orion's API walkthrough (telefonicaid/fiware-orion
  doc/manuals/user/walkthrough_apiv2.md, "Room1"): plain ``Float``/``Integer`` attributes,
  each rendered with an empty ``metadata`` object.
* ``STORE`` — FIWARE tutorials (Getting-Started, "urn:ngsi-ld:Store:001"): a v2 id that is
  already a URN, a ``PostalAddress`` structured value with a ``verified`` Boolean
  metadata, a ``geo:json`` Point location, ``Text`` name.
* ``GAUGE`` — IoT Agent measures (telefonicaid/iotagent-node-lib, doc "TimeInstant"):
  every measured attribute carries a ``TimeInstant`` metadata of type ``DateTime``, and
  the entity a ``TimeInstant`` attribute; ``unitCode`` metadata as the agent maps it.
* ``SHELF`` — FIWARE tutorials (Entity-Relationships): ``refStore`` of type
  ``Relationship`` holding the target's id.
* ``KIOSK`` — Orion's geolocation manual (doc/manuals/user/geolocation.md): the simple
  location format ``geo:point`` ``"lat, lon"``.
* ``TYPES_EXAMPLE`` — the ``GET /v2/types`` response shape from doc/manuals/orion-api.md
  ("List Entity Types"): ``type``, ``attrs`` with ``types`` lists, ``count``.
"""

from __future__ import annotations

from typing import Any

ROOM: dict[str, Any] = {
    "id": "Room1",
    "type": "Room",
    "pressure": {"type": "Integer", "value": 720, "metadata": {}},
    "temperature": {"type": "Float", "value": 23.5, "metadata": {}},
}

STORE: dict[str, Any] = {
    "id": "urn:ngsi-ld:Store:001",
    "type": "Store",
    "address": {
        "type": "PostalAddress",
        "value": {"streetAddress": "1-1 Marunouchi", "addressLocality": "Chiyoda",
                  "postalCode": "100-0005"},
        "metadata": {"verified": {"type": "Boolean", "value": True}},
    },
    "location": {"type": "geo:json",
                 "value": {"type": "Point", "coordinates": [139.7671, 35.6812]},
                 "metadata": {}},
    "name": {"type": "Text", "value": "Marunouchi Store", "metadata": {}},
}

GAUGE: dict[str, Any] = {
    "id": "gauge-17",
    "type": "RainGauge",
    "precipitation": {
        "type": "Number",
        "value": 12.5,
        "metadata": {
            "TimeInstant": {"type": "DateTime", "value": "2026-06-01T09:00:00.000Z"},
            "unitCode": {"type": "Text", "value": "MMT"},
            "accuracy": {"type": "Number", "value": 0.5},
        },
    },
    "dateObserved": {"type": "DateTime", "value": "2026-06-01T09:00:00.000Z",
                     "metadata": {}},
    "TimeInstant": {"type": "DateTime", "value": "2026-06-01T09:00:00.000Z",
                    "metadata": {}},
    "status": {"type": "Text", "value": "ok", "metadata": {}},
}

SHELF: dict[str, Any] = {
    "id": "urn:ngsi-ld:Shelf:unit001",
    "type": "Shelf",
    "refStore": {"type": "Relationship", "value": "urn:ngsi-ld:Store:001", "metadata": {}},
    "numberOfItems": {"type": "Integer", "value": 15, "metadata": {}},
}

KIOSK: dict[str, Any] = {
    "id": "kiosk-3",
    "type": "Kiosk",
    "location": {"type": "geo:point", "value": "35.6895, 139.6917", "metadata": {}},
    "refStore": {"type": "Text", "value": "001", "metadata": {}},
}

TYPES_EXAMPLE: list[dict[str, Any]] = [
    {"type": "Car", "attrs": {"speed": {"types": ["Number"]},
                              "fuel": {"types": ["gasoline", "diesel"]}}, "count": 12},
    {"type": "Room", "attrs": {"pressure": {"types": ["Number"]},
                               "humidity": {"types": ["percentage"]}}, "count": 7},
]
