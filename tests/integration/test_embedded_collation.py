"""The embedded cluster collates in byte order whatever the machine's locale, so jsonb
orders strings as the ``txt`` index does and ``orderBy`` on a string can walk it."""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg
import pytest

from hub.db.embedded import EmbeddedPostgres
from hub.store import entities as store


async def test_a_new_embedded_cluster_collates_bytewise(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LC_ALL", "C.UTF-8")  # a machine locale that would win in initdb
    monkeypatch.delenv("LC_COLLATE", raising=False)
    embedded = EmbeddedPostgres(tmp_path)
    url = embedded.start()
    try:
        # the process environment is as it was
        assert os.environ["LC_ALL"] == "C.UTF-8" and "LC_COLLATE" not in os.environ
        con = await asyncpg.connect(url)
        try:
            row = await con.fetchrow("SELECT datcollate, datctype FROM pg_database"
                                     " WHERE datname = current_database()")
            assert (row["datcollate"], row["datctype"]) == ("C", "C.UTF-8")
            assert await con.fetchval(f"SELECT {store._BYTEWISE}") is True
        finally:
            await con.close()
    finally:
        embedded.stop()
