"""An in-memory ``ContextLoader`` for the JSON-LD unit tests: no network, counts its calls."""

from __future__ import annotations

from typing import Any

from hub.errors import LdContextNotAvailable

__all__ = ["MemoryLoader"]


class MemoryLoader:
    """Serves ``documents`` by URL; any other URL is ``LdContextNotAvailable``."""

    def __init__(self, documents: dict[str, Any] | None = None) -> None:
        self.documents = dict(documents or {})
        self.calls: list[str] = []

    async def load(self, url: str) -> Any:
        self.calls.append(url)
        if url not in self.documents:
            raise LdContextNotAvailable(f"@context {url} could not be fetched")
        return self.documents[url]
