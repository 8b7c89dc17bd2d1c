"""Drive a Renkei hub with the published ``ngsildclient`` (0.5.2), through its own API only.

Run by the interpreter of a venv of its own (tests/e2e/test_ngsildclient.py makes it: the
library's pins clash with the project's), never imported by pytest. Arguments: the hub
host, its port, the notification URI for the subscription, a run tag that keeps ids and
types apart between runs, and optionally a bearer token. The last stdout line is one JSON
object of what the library answered; the test asserts on it.

The library has no token parameter; its hook is ``custom_auth`` (a ``requests`` auth
object set on its session), which is how the token is sent here.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ngsildclient import Client, Entity, SubscriptionBuilder
from ngsildclient.api.helper.temporal import TemporalQuery
from requests import PreparedRequest
from requests.auth import AuthBase


class Bearer(AuthBase):
    """``Authorization: Bearer`` on every request of the library's session."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, r: PreparedRequest) -> PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r


def attempt(call: Callable[[], Any]) -> dict[str, Any]:
    """A call expected to fail: its result, or the error and the hub's answer if any."""
    try:
        return {"result": call()}
    except Exception as exc:
        response = getattr(exc, "response", None)
        return {"error": f"{type(exc).__name__}: {exc}",
                "status": response.status_code if response is not None else None,
                "body": response.text if response is not None else None}


def run(host: str, port: int, notify: str, tag: str, token: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    etype = f"ClientProbe{tag}"
    client = Client(host, port, custom_auth=Bearer(token) if token else None, verbose=False)
    try:
        observed = datetime.now(UTC).replace(microsecond=0)
        first = Entity(etype, f"{tag}-1")
        first.prop("temperature", 21.5, observedat=observed).prop("name", "ngsildclient")
        out["id"] = first.id
        out["created"] = client.create(first)
        stored = client.get(first.id).to_dict()
        out["retrieved"] = stored["temperature"]["value"]
        out["dataset"] = stored.get("refDataset", {}).get("object")

        more = [Entity(etype, f"{tag}-{n}").prop("temperature", 10.0 * n) for n in (2, 3, 4)]
        upserted = client.upsert(more)
        out["batch_upsert"] = {"ok": upserted.n_ok, "errors": upserted.n_err}

        out["count_type"] = client.count(type=etype)
        warm = client.query(type=etype, q="temperature>25")
        out["query_warm"] = sorted(e.id for e in warm)

        # a second reading of the first entity: the history now has two instances
        later = Entity(etype, f"{tag}-1")
        later.prop("temperature", 23.0, observedat=observed + timedelta(minutes=10))
        out["batch_update"] = client.upsert([later], update=True).n_ok
        out["after_update"] = client.get(first.id).to_dict()["temperature"]["value"]

        sub = (SubscriptionBuilder(notify).select_type(etype).watch(["temperature"])
               .query("temperature>30").build())
        out["subscription"] = client.subscriptions.create(sub)
        out["subscription_listed"] = [s["id"] for s in client.subscriptions.list() or []]

        troe = client.temporal.get(first)
        out["temporal_get"] = troe
        # lastN: get() does not expose it; _get() is the request get() pages over
        out["temporal_lastn"] = client.temporal._get(first, lastn=1).result
        # the library's two temporal queries fail on its side (docs/conformance.md "Clients
        # tried"); recorded, so the test notices if that changes
        window = TemporalQuery().between(observed - timedelta(hours=1),
                                         observed + timedelta(hours=1))
        out["temporal_query"] = attempt(lambda: client.temporal.query(
            type=etype, tq=window, lastn=1))
        query = {"type": "Query", "entities": [{"type": etype}],
                 "temporalQ": {"timerel": "between", "timeAt": window["timeAt"],
                               "endTimeAt": window["endTimeAt"]}}
        out["temporal_alt_query"] = attempt(lambda: client.temporal.alt.query(query, lastn=1))
        deleted = client.delete([first, *more])
        out["batch_delete"] = deleted.n_ok
        out["count_after_delete"] = client.count(type=etype)
    except Exception as exc:  # report what failed: the test shows it
        out["error"] = f"{type(exc).__name__}: {exc}"
        response = getattr(exc, "response", None)
        if response is not None:
            out["error_body"] = response.text
        out["traceback"] = traceback.format_exc()
    finally:
        client.close()
    return out


if __name__ == "__main__":
    host, port, notify, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    token = sys.argv[5] if len(sys.argv) > 5 else None
    print(json.dumps(run(host, port, notify, tag, token), default=str))
