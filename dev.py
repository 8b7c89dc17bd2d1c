#!/usr/bin/env python3
"""Developer bootstrap that needs nothing but Python 3.11+: ``python3 dev.py <command> [args]``.

    serve [args]   run the hub on http://127.0.0.1:1026 with the Nagano sample data
    test [args]    ruff, import-layer contracts, mypy, then pytest (args go to pytest)
    check          the same checks plus ruff format; informational, always exits 0

The first run creates ``.venv`` next to this file; ``pip install -e '.[test]'`` runs again
only when ``pyproject.toml`` changes (its hash is kept in ``.venv/.renkei-installed``).
Every command runs from the repository root, whatever the current directory.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
EXE = ".exe" if os.name == "nt" else ""
MARKER = VENV / ".renkei-installed"
USAGE = "usage: python3 dev.py {serve,test,check} [args...]"


def say(message: str) -> None:
    print(f"dev.py: {message}", flush=True)


def show(cmd: list[str]) -> str:
    """The command as a user would type it, with paths relative to the repository root."""
    return " ".join(os.path.relpath(a, ROOT) if a.startswith(str(ROOT)) else a for a in cmd)


def tool(name: str) -> str:
    return str(BIN / (name + EXE))


def venv_env() -> dict[str, str]:
    """The environment of an activated ``.venv``, so child processes find its tools."""
    env = dict(os.environ, VIRTUAL_ENV=str(VENV))
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    return env


def run(cmd: list[str]) -> int:
    say(show(cmd))
    return subprocess.run(cmd, cwd=ROOT, env=venv_env(), check=False).returncode


def ensure_venv() -> None:
    """Create ``.venv`` if needed and (re)install the project when pyproject.toml changed."""
    python = tool("python")
    if not Path(python).exists():
        say(f"creating .venv: {sys.executable} -m venv .venv")
        if subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=False).returncode:
            sys.exit("dev.py: could not create .venv (Debian/Ubuntu: apt install python3-venv)")
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if MARKER.exists() and MARKER.read_text().strip() == digest:
        return
    cmd = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           "-e", ".[test]"]
    if run(cmd):
        sys.exit("dev.py: pip install failed")
    MARKER.write_text(digest + "\n")


def checks(last: list[str]) -> list[str]:
    """Run ruff, lint-imports, mypy, then ``last``; a failure does not stop the next.

    Return the failed steps."""
    steps = [[tool("ruff"), "check", "."], [tool("lint-imports")], [tool("mypy"), "hub"], last]
    return [Path(step[0]).stem for step in steps if run(step)]


def serve(extra: list[str]) -> None:
    renkei = tool("renkei")
    cmd = [renkei, "serve", "--sample-data", *extra]
    say(show(cmd))
    os.chdir(ROOT)  # the embedded PostgreSQL lives in .renkei/ at the repository root
    env = venv_env()
    if "RENKEI_AUTH_MODE" not in env:
        # a local playground: access control off, so the README walk-through needs no
        # token (docs/access-control.md shows it with tokens); `renkei serve` enforces
        env["RENKEI_AUTH_MODE"] = "dev"
        say("access control is OFF (RENKEI_AUTH_MODE=dev) for this local hub; "
            "set RENKEI_AUTH_MODE=enforce to try it with tokens")
    # the demo prefecture (長野県, sample data) is the platform operator of this playground
    env.setdefault("RENKEI_OPERATOR_ORGANISATIONS", "200000")
    os.execve(renkei, cmd, env)


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 -- any python3 may run this file
        sys.exit(f"dev.py: Renkei needs Python 3.11+, this is {sys.version.split()[0]}")
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    if not argv or argv[0] not in {"serve", "test", "check"}:
        print(USAGE, file=sys.stderr)
        return 2
    command, extra = argv[0], argv[1:]
    ensure_venv()
    if command == "serve":
        serve(extra)
    if command == "test":
        failed = checks([tool("pytest"), *extra])
        say(f"FAILED: {', '.join(failed)}" if failed else "all passed")
        return 1 if failed else 0
    failed = checks([tool("ruff"), "format", "--check", "hub"])
    say(f"failed (informational): {', '.join(failed)}" if failed else "all clean")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
