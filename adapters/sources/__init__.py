"""Live sources: polite, incremental fetching (``fetch``) and where each built-in adapter's
source is published (``live``). Used by the scheduled worker (adapters/worker.py)."""

from adapters.sources.fetch import (
    Fetched,
    Fetcher,
    NotPublishedYet,
    SourceMemo,
    SourceUnavailable,
)
from adapters.sources.live import LiveSource, live_source

__all__ = ["Fetched", "Fetcher", "LiveSource", "NotPublishedYet", "SourceMemo",
           "SourceUnavailable", "live_source"]
