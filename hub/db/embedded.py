"""Zero-configuration PostgreSQL: the ``pgserver`` package ships the server binaries.

Used only when no ``database_url`` is configured, so a newcomer needs nothing but Python.
The cluster lives in ``settings.data_dir`` and survives restarts; ``pgserver`` shares one
postmaster between processes that open the same directory and stops it when the last
one detaches.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

__all__ = ["EmbeddedPostgres"]

log = logging.getLogger("renkei.db")


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve() / "pgdata"
        self._server: Any = None

    def start(self) -> str:
        """Start (or attach to) the embedded cluster and return its connection URL."""
        import pgserver  # imported lazily: only the embedded path needs the binaries

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._server = pgserver.get_server(str(self.data_dir), cleanup_mode="stop")
        uri: str = self._server.get_uri()
        log.info("embedded PostgreSQL started", extra={"data_dir": str(self.data_dir)})
        return uri

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
