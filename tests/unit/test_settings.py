from __future__ import annotations

from pathlib import Path

from hub.settings import Settings


def test_environment_values_are_typed() -> None:
    s = Settings.from_env({"RENKEI_PORT": "2000", "RENKEI_POOL_MAX": "20",
                           "RENKEI_SAMPLE_DATA": "yes", "RENKEI_CONTEXT_FETCH_TIMEOUT": "1.5",
                           "RENKEI_DATA_DIR": "/tmp/x", "RENKEI_DATABASE_URL": "postgresql://h/d"})
    assert s.port == 2000 and s.pool_max == 20 and s.sample_data is True
    assert s.context_fetch_timeout == 1.5 and s.data_dir == Path("/tmp/x")
    assert s.database_url == "postgresql://h/d"


def test_flags_override_environment() -> None:
    s = Settings.from_env({"RENKEI_PORT": "2000"}, port=3000, host=None)
    assert s.port == 3000 and s.host == "127.0.0.1"
