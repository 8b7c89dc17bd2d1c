"""Conditions whose selectivity PostgreSQL misjudges, written so that it assumes even odds.

A plan is chosen by estimates, and tests on whole ``attrs`` documents are estimated far
below what they select — ``q``'s jsonpath recheck (``@?``), an attribute's
presence (``?``, ``q=attr``, a geo-query without a box) and ``attrs=`` (``?|``) — which
PostgreSQL judges on a sample of documents from which ANALYZE leaves out every one over
1 kB: in a tenant of several types, the queried type's wide entities are missing from it
(0.05 % estimated where 83 % passed). An estimate that low makes a page look like a handful of
rows, so PostgreSQL reads every candidate and sorts them instead of walking the primary
key until the page is full. No index answers any of them, so no plan drives on them, and
assuming 0.5 costs no index plan. A fixed estimate is also one way fewer for a page's plan,
and so its latency, to follow documents the caller may not read (the sample is of every
dataset in the tenant).

The access condition was wrapped too while it was written on ``coalesce(dataset,
catch_all)``, which has no statistics (0.005). It is now written on the ``dataset``
column itself (``catalogue.dataset_in``) and estimated from its statistics, since how
much of the tenant a caller sees is what a page's plan should follow.
"""

from __future__ import annotations

__all__ = ["even_odds"]


def even_odds(condition: str) -> str:
    """``coalesce(condition, false)``: the same rows where ``condition`` is never NULL
    or never negated (a NULL fails either way; under ``NOT`` it would pass), but
    PostgreSQL estimates an expression it cannot see into at 0.5, not by the operator's
    own estimator. Measured: a string ``q`` recheck estimated at 0.05 % read 33,401
    candidates of a tenant of five types and sorted them (310 ms, 134,000 buffers) where
    the merge join along the key reads 34 buffers (0.23 ms), and ``q=attr`` or
    ``attrs=attr`` read all 40,000 entities of the type (355-388 ms) for a page the key's
    walk reads in 27 buffers (docs/architecture.md, "Query plans")."""
    return f"coalesce({condition}, false)"
