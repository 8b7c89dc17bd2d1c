"""Schemathesis over the hub's OpenAPI documents: no generated request answers 5xx.

The hub publishes one OpenAPI document, the registry's (`/registry/v1/openapi.json`,
which also describes the catalogue); the NGSI-LD API has none of its own (ETSI's is
external), so the oracle and the attack tests cover it. Requests, valid and invalid
(schemathesis's positive and negative generation), go to an enforcing hub, anonymous or
with the prefecture's or a municipality's `manage` token, and are sent with aiohttp on the
test's own event loop (schemathesis's own `call` is synchronous and would block it).
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import MultiDict
from schemathesis.generation import GenerationMode

from hub.api.registry_openapi import openapi_document
from tests.integration.authz_world import World

EXAMPLES = int(os.environ.get("RENKEI_SCHEMATHESIS_EXAMPLES", "150"))
SCHEMA = schemathesis.openapi.from_dict(openapi_document())
OPERATIONS = [r.ok() for r in SCHEMA.get_all_operations()]  # type: ignore[union-attr]
CASES = st.one_of([op.as_strategy(generation_mode=mode) for op in OPERATIONS
                   for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)])


def _params(raw: Any) -> MultiDict[str]:
    out: MultiDict[str] = MultiDict()
    for key, value in (raw or {}).items():
        for v in value if isinstance(value, list) else [value]:
            out.add(str(key), v if isinstance(v, str) else str(v))
    return out


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
@given(case=CASES, who=st.sampled_from([None, "pref", "nagano-admin", "ueda"]))
async def test_registry_openapi_answers_no_5xx(world: World, case: Any, who: str | None) -> None:
    kw = case.as_transport_kwargs(base_url=str(world.http.make_url("")).rstrip("/"))
    headers = {k: str(v) for k, v in (kw.get("headers") or {}).items()
               if k.lower() not in ("connection", "accept-encoding", "host", "content-length")}
    if who is not None:
        headers["Authorization"] = f"Bearer {world.tokens[who]}"
    body: dict[str, Any] = {}
    if "json" in kw:
        body["json"] = kw["json"]
    elif kw.get("data") is not None:
        body["data"] = kw["data"]
    async with world.http.session.request(kw["method"], kw["url"], headers=headers,
                                          params=_params(kw.get("params")), **body) as resp:
        text = await resp.text()
        assert resp.status < 500, f"{kw['method']} {kw['url']} -> {resp.status}: {text[:500]}"
