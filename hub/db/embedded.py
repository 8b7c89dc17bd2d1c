"""Zero-configuration PostgreSQL: the ``pgserver`` package ships the server binaries.

Used only when no ``database_url`` is configured, so a newcomer needs nothing but Python.
The cluster lives in ``settings.data_dir`` and survives restarts; ``pgserver`` shares one
postmaster between processes that open the same directory and stops it when the last
one detaches.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["EmbeddedPostgres"]

log = logging.getLogger("renkei.db")


@contextlib.contextmanager
def _bytewise_collation(fresh: bool) -> Iterator[None]:
    """A new cluster collates in byte order (``LC_COLLATE=C``) whatever the machine's
    locale: jsonb then orders strings as the ``txt`` index does, and an ``orderBy`` on a
    string attribute can walk that index (``store.entities._BYTEWISE``). ``initdb``
    reads the locale from its environment, which pgserver passes on; character classes
    keep the machine's ``LC_CTYPE``. An existing cluster keeps its collation."""
    if not fresh:
        yield
        return
    saved = {k: os.environ.get(k) for k in ("LC_ALL", "LC_COLLATE", "LC_CTYPE")}
    ctype = saved["LC_ALL"] or saved["LC_CTYPE"]
    os.environ.pop("LC_ALL", None)
    os.environ["LC_COLLATE"] = "C"
    if ctype:
        os.environ["LC_CTYPE"] = ctype
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve() / "pgdata"
        self._server: Any = None

    def start(self) -> str:
        """Start (or attach to) the embedded cluster and return its connection URL."""
        import pgserver  # imported lazily: only the embedded path needs the binaries

        self.data_dir.mkdir(parents=True, exist_ok=True)
        with _bytewise_collation(fresh=not (self.data_dir / "PG_VERSION").exists()):
            self._server = pgserver.get_server(str(self.data_dir), cleanup_mode="stop")
        uri: str = self._server.get_uri()
        log.info("embedded PostgreSQL started", extra={"data_dir": str(self.data_dir)})
        return uri

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
