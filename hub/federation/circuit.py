"""A circuit breaker per context source: a source that keeps failing is not called for a
while, so a dead city broker costs nothing rather than a timeout on every query.

After ``failures`` consecutive failures the circuit opens for ``cooldown`` seconds; then one
call is let through as a probe (half-open): success closes the circuit, failure opens it
for another cool-down. State is per process (each hub process learns on its own; a probe
per process per cool-down is cheap).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

__all__ = ["Breakers"]

log = logging.getLogger("renkei.federation")


@dataclass(slots=True)
class _State:
    failures: int = 0
    open_until: float = 0.0
    probing: bool = False


class Breakers:
    """The breakers of one process, keyed by source endpoint."""

    def __init__(self, failures: int = 3, cooldown: float = 30.0) -> None:
        self.failures = failures
        self.cooldown = cooldown
        self._states: dict[str, _State] = {}
        self._cooldowns: dict[str, float] = {}

    def allow(self, key: str, cooldown: float | None = None) -> bool:
        """May ``key`` be called now? Claims the probe when the cool-down is over.
        ``cooldown`` (a registration's own, 5.2.34) replaces the default for this key."""
        if cooldown is not None:
            self._cooldowns[key] = cooldown
        st = self._states.get(key)
        if st is None or st.failures < self.failures:
            return True
        if time.monotonic() < st.open_until or st.probing:
            return False
        st.probing = True
        return True

    def success(self, key: str) -> None:
        st = self._states.pop(key, None)
        self._cooldowns.pop(key, None)
        if st is not None and st.failures >= self.failures:
            log.warning("context source %s answers again: circuit closed", key)

    def failure(self, key: str) -> None:
        st = self._states.setdefault(key, _State())
        st.failures += 1
        st.probing = False
        if st.failures >= self.failures:
            cooldown = self._cooldowns.get(key, self.cooldown)
            st.open_until = time.monotonic() + cooldown
            if st.failures == self.failures:  # once per outage, not once per probe
                log.warning("context source %s failed %d times in a row: circuit open, "
                            "probed every %g s", key, st.failures, cooldown)

    def release(self, key: str) -> None:
        """A call that ended with no verdict (cancelled: the client went away, the local
        part failed) was no probe: the next call may probe. Without this a cancelled probe
        kept ``probing`` set and the source was never asked again by this process."""
        st = self._states.get(key)
        if st is not None:
            st.probing = False

    def open_count(self) -> int:
        """How many sources this process is not calling now (for /metrics)."""
        return sum(1 for st in self._states.values() if st.failures >= self.failures)

    def is_open(self, key: str) -> bool:
        st = self._states.get(key)
        return st is not None and st.failures >= self.failures
