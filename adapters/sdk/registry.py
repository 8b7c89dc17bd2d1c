"""Reporting to the registry's management API over HTTP (``/registry/v1``, docs/registry.md).

An adapter *registration* says which adapter feeds which dataset, with its configuration
and schedule; every run posts its health (start, end, status, counts, errors) to
``/registry/v1/adapters/{id}/runs``. The adapter keeps its own state file either way
(sdk.state): the registry records health, it is not where the cursor lives.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from adapters.sdk.manifest import Manifest
from adapters.sdk.refusals import hub_base
from adapters.sdk.runner import RunReport

__all__ = ["RegistryClient", "iso_schedule", "run_record"]


def iso_schedule(manifest: Manifest) -> str | None:
    """The manifest's schedule as the ISO 8601 duration the registry stores (PT10M)."""
    interval = manifest.interval()
    if interval is None:
        return None
    seconds = int(interval.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    time = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")


def run_record(report: RunReport) -> dict[str, Any]:
    """The registry's run shape; the status is the run's own (succeeded, partial, failed)."""
    status = report.status
    counts = {k: getattr(report, k) for k in ("read", "written", "quarantined", "skipped",
                                              "unacknowledged", "entities")}
    errors = ([report.error] if report.error else []) + [
        f"row {q['row']}: {q['reason']}" for q in report.quarantine[:20]]
    return {"startedAt": report.started, "finishedAt": report.finished or report.started,
            "status": status, "counts": counts, "errors": errors}


class RegistryClient:
    def __init__(self, base_url: str, session: aiohttp.ClientSession, *,
                 token: str | None = None) -> None:
        self.base = hub_base(base_url) + "/registry/v1"
        self.session = session
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    async def register(self, registration: str, dataset: str, manifest: Manifest,
                       config: dict[str, Any] | None = None) -> dict[str, Any]:
        """Create or update the registration (PUT is idempotent)."""
        body = {"id": registration, "dataset": dataset, "adapter": manifest.id,
                "config": config or {}, "schedule": iso_schedule(manifest)}
        async with self.session.put(f"{self.base}/adapters/{registration}", json=body,
                                    headers=self.headers) as r:
            data: dict[str, Any] = await r.json(content_type=None)
            if r.status not in (200, 201):
                raise RuntimeError(f"registry refused the registration ({r.status}): {data}")
            return data

    async def record_run(self, registration: str, report: RunReport) -> str:
        """Post the run's health; answers a short note for the summary (never raises)."""
        try:
            async with self.session.post(f"{self.base}/adapters/{registration}/runs",
                                         json=run_record(report), headers=self.headers) as r:
                if r.status == 201:
                    return "recorded"
                return f"not recorded ({r.status}: {(await r.text())[:200]})"
        except aiohttp.ClientError as exc:
            return f"not recorded ({exc})"
