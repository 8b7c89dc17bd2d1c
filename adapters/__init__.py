"""Renkei adapters layer (see docs/architecture.md)."""
