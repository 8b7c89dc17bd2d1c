"""Access control at send time: what a subscriber may see of a notification, now.

The check runs when a notification is sent, not when it is queued, so a grant revoked or
expired in between stops notifications already waiting. The notification keeps the stored
form of the entities it shows (``payload["stored"]``, never sent) so the decision is made
on the same data the query API decides on (``hub.service.access.may_see``): an entity the
subscriber may not see is dropped, attributes it may not read are removed, and a
notification left with no entity is not sent at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from authz.model import Consumer
from authz.policies import Defaults
from hub.jsonld.active import ActiveContext
from hub.service.access import may_see, subscriber_consumer
from hub.service.access_state import AccessState
from hub.subscriptions.delivery import Visibility

__all__ = ["access_visibility"]


def access_visibility(
    state: AccessState, defaults: Defaults,
    render_context: Callable[[dict[str, Any]], Awaitable[ActiveContext]],
) -> Visibility:
    """The deliverer's hook with access control enforced. A subscription stored without a
    subscriber (made in dev mode) is treated as anonymous: open data only."""

    async def visibility(schema: str, sub: dict[str, Any],
                         payload: dict[str, Any]) -> dict[str, Any] | None:
        record = sub.get("subscriber")
        consumer = subscriber_consumer(record) if record else Consumer()
        stored = payload.get("stored") or []
        ctx = await render_context(sub)
        shown: list[dict[str, Any]] = []
        for entity, ent in zip(payload["data"], stored, strict=False):
            seen = may_see(consumer, ent, None, state, defaults)
            if seen is None:
                continue
            hidden = {ctx.compact(i) for i in set(ent["attrs"]) - set(seen["attrs"])}
            shown.append({k: v for k, v in entity.items() if k not in hidden})
        if not shown:
            return None
        return {**payload, "data": shown}

    return visibility
