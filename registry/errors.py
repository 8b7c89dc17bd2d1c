"""The registry's own failures; the hub maps each to its NGSI-LD error in one place.

The registry imports nothing of the hub, so it cannot raise the hub's problem-details
classes; each class here names the HTTP meaning it has, and ``hub/api/registry.py`` turns it
into the matching ``hub.errors`` class.
"""

from __future__ import annotations

__all__ = ["Conflict", "Duplicate", "Invalid", "NotFound", "RegistryError"]


class RegistryError(Exception):
    """Base class: ``detail`` is the sentence shown to the administrator."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Invalid(RegistryError):
    """A record breaks a rule of the model (bad code, unknown licence, overlapping rule)."""


class NotFound(RegistryError):
    """No organisation, dataset or adapter registration with that id."""


class Duplicate(RegistryError):
    """A record with that id exists already."""


class Conflict(RegistryError):
    """The change would leave the registry inconsistent (a dataset still owned, in use)."""
