"""A private PostgreSQL server a test may stop and start at will (outages, restarts).

Built from the binaries the ``pgserver`` package ships (the embedded server of
``hub/db/embedded.py``), in a temporary directory, listening on a TCP port of its own so
a stopped server refuses connections the way a real outage does. Never the machine's
shared server: stopping that would break every other test running on it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.hubproc import free_port

__all__ = ["PrivatePostgres"]


class PrivatePostgres:
    """``start()`` / ``stop()`` as often as a test likes; ``url`` stays the same."""

    def __init__(self) -> None:
        from pgserver._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        self.root = Path(tempfile.mkdtemp(prefix="renkei-outage-pg-"))
        self.root.chmod(0o755)
        self.pgdata = self.root / "pgdata"
        self.pgdata.mkdir()
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        # PostgreSQL refuses to run as root; pgserver runs it as its own user then
        self.user = "pgserver" if os.geteuid() == 0 else None
        if self.user is not None:
            from pgserver.utils import ensure_user_exists

            ensure_user_exists(self.user)
            entry = pwd.getpwnam(self.user)
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.pgdata), "--auth=trust", "-U", "postgres",
                  "--encoding=utf8")

    def _run(self, exe: str, *args: str) -> None:
        subprocess.run([str(self.bin / exe), *args], check=True, user=self.user,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.pgdata), "-w", "-l", str(self.pgdata / "log"),
                  "-o", f"-h 127.0.0.1 -p {self.port} -k {self.pgdata}"
                  " -c autovacuum=off -c fsync=off -c max_connections=100", "start")

    def stop(self, mode: str = "immediate") -> None:
        """``immediate`` drops every connection at once, as a crashed server does."""
        self._run("pg_ctl", "-D", str(self.pgdata), "-w", "-m", mode, "stop")

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop("fast")
        shutil.rmtree(self.root, ignore_errors=True)
