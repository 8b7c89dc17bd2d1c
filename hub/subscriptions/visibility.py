"""Whose rights notifications use: the subscriber's, at match time and again at send time.

``SubscriberAccess`` is the one place a subscription's rights come from
(``hub.service.access.subscriber_caller``). The matcher evaluates filters, watched
attributes, joins and periodic queries acting as that caller, so a subscription learns
nothing a GET by its subscriber would not show; the deliverer asks ``visibility`` again
right before sending, so a grant revoked or expired in between stops notifications already
waiting. The notification keeps the stored form of the entities it shows
(``payload["stored"]``, never sent) so the send-time decision is made on the same data the
query API decides on (``hub.service.access.may_see``): an entity the subscriber may not
see is dropped, attributes it may not read are removed, and a notification left with no
entity is not sent at all (nor counted).

There is no "no access control" variant: in development mode the subscriber's caller is
the development caller, which the checks let through explicitly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from authz.policies import Defaults
from hub.jsonld.active import ActiveContext
from hub.service.access import Caller, may_see, subscriber_caller
from hub.service.access_state import AccessState

__all__ = ["SubscriberAccess"]


class SubscriberAccess:
    def __init__(self, state: AccessState, defaults: Defaults, dev: bool) -> None:
        self.state = state
        self.defaults = defaults
        self.dev = dev

    def caller(self, sub: dict[str, Any]) -> Caller:
        return subscriber_caller(sub, self.state, self.defaults, self.dev)

    def visibility(
        self, render_context: Callable[[dict[str, Any]], Awaitable[ActiveContext]],
    ) -> Callable[[str, dict[str, Any], dict[str, Any]], Awaitable[dict[str, Any] | None]]:
        """The deliverer's send-time hook."""

        async def visibility(schema: str, sub: dict[str, Any],
                             payload: dict[str, Any]) -> dict[str, Any] | None:
            caller = self.caller(sub)
            if caller.dev:
                return payload
            if payload.get("csource"):  # registrations, not entities (hub/federation/):
                # metadata every authenticated reader may see, secrets already masked
                return None if caller.consumer.anonymous else payload
            stored = payload.get("stored") or []
            ctx = await render_context(sub)
            shown: list[dict[str, Any]] = []
            for entity, ent in zip(payload["data"], stored, strict=False):
                seen = may_see(caller, ent)
                if seen is None:
                    continue
                hidden = {ctx.compact(i) for i in set(ent["attrs"]) - set(seen["attrs"])}
                shown.append({k: v for k, v in entity.items() if k not in hidden})
            if not shown:
                return None
            return {**payload, "data": shown}

        return visibility
