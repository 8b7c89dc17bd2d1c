"""Which notification endpoints the hub may call: the hub's one egress policy.

Kept as a module so the subscription code keeps its vocabulary; the policy itself (rules,
allow-list, the connection-time check) lives in ``hub/egress.py``. A subscription's endpoint
is checked when it is written (``check_literal``: literal addresses and ``localhost``) and
again right before each delivery, after name resolution (``check_resolved``); HTTP
connections are checked once more on the address connected to, MQTT ones connect to the
checked address (``hub/subscriptions/senders.py``).
"""

from __future__ import annotations

from hub.egress import DEFAULT_DENIED, EgressPolicy, EgressRefused

__all__ = ["DEFAULT_DENIED", "EndpointPolicy", "EndpointRefused"]

EndpointPolicy = EgressPolicy
EndpointRefused = EgressRefused
