"""The settings every distributed-operation test of this folder runs its ``client`` hub
with: development mode (these tests are about forwarding and merging; the trust tests use
the enforcing ``world``), registrations read on every request (no cache to wait for), a
1 s source timeout so a dead source costs little, and a fixed ``Via`` identity."""

from __future__ import annotations

import dataclasses

import pytest

from hub.settings import Settings


@pytest.fixture
def settings(database_url: str) -> Settings:
    return dataclasses.replace(
        Settings(database_url=database_url, max_body_bytes=200_000, max_limit=1000,
                 auth_mode="dev"),
        federation_cache_ttl=0.0, federation_timeout=1.0,
        federation_identity="urn:ngsi-ld:ContextSource:hub-under-test")
