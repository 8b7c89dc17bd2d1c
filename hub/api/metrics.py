"""``GET /metrics``: this process's counters in the Prometheus text format (0.0.4).

What an operator needs to see without reading logs: how the context sources this hub
federates with behave (calls, failures, timeouts, calls skipped by an open circuit,
forwarded writes refused as loops, circuits open now) and how busy the database pool is.
The figures are per process — a scraper adds them up over the processes of one hub.

Only the platform operator reads them (``operator_organisations``; any caller in
development mode): counts of calls to a municipality's broker and its failures say
something about that municipality's systems, so they are not public like ``/health``.
"""

from __future__ import annotations

from aiohttp import web

from hub import keys
from hub.errors import Forbidden
from hub.federation.forward import federation_of
from hub.service import access
from hub.service.admin import is_operator

__all__ = ["routes"]

routes = web.RouteTableDef()

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    settings = request.app[keys.SETTINGS]
    if settings.auth_mode != "dev" and not is_operator(settings,
                                                       access.calling_organisation()):
        raise Forbidden("the metrics are the platform operator's")
    fed = federation_of(request.app)
    st = fed.stats
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, value: float) -> None:
        lines.extend((f"# HELP {name} {help_text}", f"# TYPE {name} {kind}",
                      f"{name} {value:g}"))

    metric("renkei_federation_source_calls_total", "counter",
           "Calls made to context sources.", st.calls)
    metric("renkei_federation_source_failures_total", "counter",
           "Source calls that failed (no answer in time, refused, invalid answer).",
           st.failures)
    metric("renkei_federation_source_timeouts_total", "counter",
           "Source calls with no answer within the timeout.", st.timeouts)
    metric("renkei_federation_source_skipped_total", "counter",
           "Source calls not made because the source's circuit was open.", st.skipped_open)
    metric("renkei_federation_loops_total", "counter",
           "Forwarded writes refused because the Via header showed a loop.", st.loops)
    metric("renkei_federation_open_circuits", "gauge",
           "Context sources this process is not calling now.", fed.breakers.open_count())
    pool = request.app[keys.POOL]
    metric("renkei_db_pool_connections", "gauge",
           "PostgreSQL connections held by this process.", pool.get_size())
    metric("renkei_db_pool_idle_connections", "gauge",
           "Held PostgreSQL connections not in use.", pool.get_idle_size())
    return web.Response(body=("\n".join(lines) + "\n").encode(),
                        headers={"Content-Type": CONTENT_TYPE})
