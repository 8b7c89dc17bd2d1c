"""Renkei authz layer (see docs/architecture.md)."""
