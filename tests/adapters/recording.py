"""A sink that keeps what it is sent, for the conformance suite's runs without a hub.

The end-to-end tests (tests/adapters/test_e2e_hub.py) run the same adapters into a real
hub over HTTP; this sink only lets the suite check counts, state and idempotence fast.
"""

from __future__ import annotations

from typing import Any

from adapters.sdk import HubUnavailable


class RecordingSink:
    def __init__(self, fail_on_call: int | None = None) -> None:
        self.calls = 0
        self.fail_on_call = fail_on_call
        self.stored: dict[str, dict[str, Any]] = {}
        self.sent: list[str] = []

    async def upsert(self, entities: list[dict[str, Any]]) -> dict[str, str]:
        self.calls += 1
        if self.fail_on_call is not None and self.calls == self.fail_on_call:
            raise HubUnavailable("hub unreachable (test)")
        for e in entities:
            self.stored[e["id"]] = e
            self.sent.append(e["id"])
        return {}
