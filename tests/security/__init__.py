"""Attacks on the hub's trust boundary, each checked against a digest of everything stored."""
