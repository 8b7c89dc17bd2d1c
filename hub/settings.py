"""Every hub setting in one place, read from ``RENKEI_*`` environment variables and CLI flags.

Flags override the environment; the environment overrides the defaults. ``docs/configuration.md``
and the README's table are checked against ``SETTINGS_HELP`` by a test, so a new setting
cannot stay undocumented.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = ["SETTINGS_HELP", "Settings"]


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None = None
    data_dir: Path = Path(".renkei")
    host: str = "127.0.0.1"
    port: int = 1026
    log_level: str = "INFO"
    log_format: str = "json"
    pool_min: int = 2
    pool_max: int = 10
    max_body_bytes: int = 1_048_576
    max_limit: int = 1000
    default_limit: int = 20
    temporal_page_instances: int = 10_000
    max_batch: int = 10_000
    max_tenants: int = 100
    statement_timeout: float = 15.0
    request_deadline: float = 30.0
    pool_acquire_timeout: float = 5.0
    bulk_concurrency: int = 0
    keepalive_timeout: float = 15.0
    ready_max_backlog: int = 100_000
    context_fetch_timeout: float = 3.0
    max_context_bytes: int = 1_048_576
    sample_data: bool = False
    auth_mode: str = "enforce"
    issuer: str | None = None
    public_url: str | None = None
    token_lifetime: int = 300
    authz_refresh: float = 5.0
    authz_prefecture_default: str = "read"
    authz_municipality_default: str = "deny"
    default_rate_per_minute: int = 600
    auth_failure_limit: int = 10
    anonymous_rate_per_minute: int = 300
    max_rate_per_minute: int = 6000
    operator_organisations: str = ""
    external_issuers: str | None = None
    notification_denied_networks: str = (
        "169.254.0.0/16,fe80::/10,fd00:ec2::254/128,100.100.100.200/32")
    egress_allow: str = ""
    context_quota: int = 100
    context_cache_entries: int = 1000
    context_cache_bytes: int = 33_554_432
    notification_timeout: float = 10.0
    notification_max_attempts: int = 12
    notification_concurrency: int = 64
    max_notification_bytes: int = 1_048_576
    subscription_poll_interval: float = 1.0
    notification_lease: float = 60.0
    history_retention_default: int = 0
    history_partitions_ahead: int = 3
    history_housekeeping_interval: float = 3600.0
    notification_queue_limit: int = 10_000
    source_alias: str = ""
    federation: bool = True
    federation_timeout: float = 5.0
    federation_cache_ttl: float = 1.0
    federation_identity: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``RENKEI_<NAME>`` variables, then apply non-None overrides."""
        source: Mapping[str, str] = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            raw = source.get("RENKEI_" + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _coerce(f.name, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _coerce(name: str, raw: str) -> Any:
    default = _DEFAULTS[name]
    if name == "database_url":
        return raw
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, Path):
        return Path(raw)
    return raw


_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(Settings)}

SETTINGS_HELP: dict[str, str] = {
    "database_url": "PostgreSQL URL; unset = start the embedded PostgreSQL in data_dir",
    "data_dir": "directory of the embedded PostgreSQL cluster",
    "host": "interface the HTTP server binds",
    "port": "TCP port of the HTTP server",
    "log_level": "DEBUG, INFO, WARNING or ERROR",
    "log_format": "json (one object per line) or text",
    "pool_min": "minimum PostgreSQL connections per process",
    "pool_max": "maximum PostgreSQL connections per process",
    "max_body_bytes": "largest accepted request body; larger answers 413",
    "max_limit": "largest accepted `limit`; larger answers 403 TooManyResults",
    "default_limit": "`limit` when the request gives none",
    "temporal_page_instances": "most attribute instances of one entity in a temporal answer;"
    " a longer history is cut and answered 206 with a Content-Range (GS CIM 009 6.3.x)",
    "max_batch": "most entities in one batch request",
    "max_tenants": "most tenants (schemas) the hub holds; in enforcing mode only a caller"
    " with the write scope creates one, and over the quota it answers 403; 0 = no limit",
    "statement_timeout": "seconds one SQL statement of the hub's pools may run before"
    " PostgreSQL cancels it (a request then answers 503 with Retry-After); 0 = no limit",
    "request_deadline": "seconds a request may take before it is cancelled and answered"
    " 503 with Retry-After; 0 = no deadline (background work is never subject to it)",
    "pool_acquire_timeout": "seconds a request (or background task) waits for a free"
    " PostgreSQL connection before it is answered 503 with Retry-After; 0 = no limit",
    "bulk_concurrency": "batch requests (/entityOperations/* except query, and bodies over"
    " 64 KiB) handled at once per process; more wait their turn (503 after"
    " pool_acquire_timeout), so small requests keep their connections and CPU;"
    " 0 = pool_max / 4, at least 1",
    "keepalive_timeout": "seconds an idle connection, or one that has not finished sending"
    " a request's headers, stays open (slow clients cannot hold connections)",
    "ready_max_backlog": "notifications waiting for delivery above which /ready answers"
    " 503; 0 = not checked",
    "context_fetch_timeout": "seconds allowed to fetch a remote @context",
    "max_context_bytes": "largest remote @context document accepted",
    "sample_data": "load the Nagano sample entities at start-up (idempotent)",
    "auth_mode": "enforce (access control on) or dev (everything open, logged as a WARNING;"
    " never in production)",
    "issuer": "this hub's OAuth issuer URL (token iss, metadata); unset = http://host:port",
    "public_url": "the hub's public base URL (https://hub.example.jp): the @ids and links of"
    " the DCAT-AP catalogue; unset = issuer, else http://host:port (never the Host header)",
    "token_lifetime": "seconds an issued access token is valid",
    "authz_refresh": "seconds between reloads of revocations, grants and keys: the"
    " revocation bound",
    "authz_prefecture_default": "read or deny: what the prefecture may do, without a grant,"
    " with data that holds no personal data",
    "authz_municipality_default": "read or deny: what a municipality may do, without a grant,"
    " with other owners' data that holds no personal data",
    "default_rate_per_minute": "requests per minute per client when neither client nor"
    " grant sets a rate",
    "auth_failure_limit": "failed client authentications per minute, per client_id and per"
    " address, at /oauth2/token, /introspect and /revoke; over it answers 429 with"
    " Retry-After; 0 = no limit",
    "anonymous_rate_per_minute": "requests per minute per client address (request.remote)"
    " for callers without a token; 0 = unlimited",
    "max_rate_per_minute": "the highest rate_per_minute a client or grant may be given;"
    " only an operator organisation may set more",
    "operator_organisations": "comma-separated registry ids of the platform operator"
    " (clients and registry records of any organisation, every audit row, key rotation);"
    " empty = no operator",
    "external_issuers": "JSON list of accepted external token issuers (Keycloak, Keyrock);"
    " see docs/access-control.md",
    "notification_denied_networks": "comma-separated networks the hub never connects to"
    " (notifications, remote @contexts), whatever the mode and egress_allow (default:"
    " link-local and cloud-metadata addresses)",
    "egress_allow": "comma-separated CIDRs and address:port pairs the hub may connect to"
    " although enforcing mode refuses non-public addresses (e.g. 10.1.0.0/16,"
    "127.0.0.1:8080); see docs/access-control.md",
    "context_quota": "remote @contexts an organisation may have fetched and stored, plus"
    " the @contexts it hosts; over it answers 403",
    "context_cache_entries": "remote @context documents kept in each process's memory"
    " (least recently used out)",
    "context_cache_bytes": "bytes of remote @context documents kept in each process's"
    " memory (least recently used out)",
    "notification_timeout": "seconds a receiver has to answer one notification (an"
    " endpoint's own `timeout` overrides it)",
    "notification_max_attempts": "deliveries tried per notification before it is kept as"
    " failed (backoff 1 s, 2 s, 4 s ... at most 300 s)",
    "notification_concurrency": "notifications in flight at once per process",
    "max_notification_bytes": "largest notification body sent; larger ones fail",
    "subscription_poll_interval": "seconds between polls for work when no PostgreSQL"
    " NOTIFY arrives (the safety net; wake-ups are immediate)",
    "history_retention_default": "days of history kept for a dataset without its own"
    " historyRetention; 0 = for ever (docs/architecture.md, \"History\")",
    "history_partitions_ahead": "monthly partitions of the history created ahead of the"
    " current month",
    "history_housekeeping_interval": "seconds between runs of the history housekeeping"
    " (partitions created ahead, expired ones dropped)",
    "notification_lease": "seconds a process holds a claimed notification before another"
    " process may deliver it (after a crash); at least notification_timeout + 5",
    "notification_queue_limit": "notifications kept per subscription (queued and dead"
    " letters); beyond it the oldest are dropped, counted in the subscription's"
    " timesDropped and its status set to failed (docs/subscriptions.md)",
    "source_alias": "this hub's contextSourceAlias in /info/sourceIdentity (a name other"
    " brokers show for it when it is their context source); empty = none",
    "federation": "follow context source registrations (distributed operations); false answers "
    "every request from local data only",
    "federation_timeout": "seconds one context source has to answer a forwarded request; a "
    "slower one is left out and reported",
    "federation_cache_ttl": "seconds each process trusts its copy of a tenant's context source "
    "registrations while the change notification (LISTEN) connection is down; while it is up "
    "a change anywhere reaches every process at once (0: read every request)",
    "federation_identity": "this hub's identity in the Via header of forwarded requests (loop "
    "detection); empty: a random one per process",
}
