"""The adapter SDK: everything an adapter, built-in or third-party, imports.

See docs/adapters.md. An adapter subclasses :class:`Adapter`, declares a
:class:`Manifest`, and yields one :class:`Emit`, :class:`Quarantine` or :class:`Skip` per
source row; :func:`run_adapter` does state, batching, delivery and the counts.
"""

from adapters.sdk.base import Adapter, CheckResult, SourceError, read_source
from adapters.sdk.dedup import Dedup
from adapters.sdk.entity import entity_id, geo_point, prop, rel, slug
from adapters.sdk.manifest import Manifest, parse_duration
from adapters.sdk.records import Emit, Outcome, Quarantine, Skip
from adapters.sdk.refusals import HubRefused, Refusal
from adapters.sdk.runner import RunReport, run_adapter
from adapters.sdk.sink import HubSink, HubUnavailable, Sink
from adapters.sdk.state import State, StateStore

__all__ = [
    "Adapter",
    "CheckResult",
    "Dedup",
    "Emit",
    "HubRefused",
    "HubSink",
    "HubUnavailable",
    "Manifest",
    "Outcome",
    "Quarantine",
    "Refusal",
    "RunReport",
    "Sink",
    "Skip",
    "SourceError",
    "State",
    "StateStore",
    "entity_id",
    "geo_point",
    "parse_duration",
    "prop",
    "read_source",
    "rel",
    "run_adapter",
    "slug",
]
