"""Renkei contracts layer (see docs/architecture.md)."""
