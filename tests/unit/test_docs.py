"""The docs cannot fall behind the code: every setting and flag is documented, and the
README's quick start is the command CI runs. Pure: reads files and builds the CLI parser."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from hub.cli import _parser
from hub.settings import SETTINGS_HELP, Settings

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CONFIGURATION = ROOT / "docs" / "configuration.md"
DOCS = [README, CONFIGURATION]


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _quick_start_lines() -> list[str]:
    """Non-empty lines of the first ```sh block under the README's ``## Quick start``."""
    section = _text(README).split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"^```sh\n(.*?)^```$", section, re.DOTALL | re.MULTILINE)
    assert block, "the Quick start section has no ```sh block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def _serve_flags() -> set[str]:
    subparsers = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    serve = subparsers[0].choices["serve"]
    return {s for a in serve._actions for s in a.option_strings if s.startswith("--")} - {"--help"}


def _unquote(cell: str) -> str:
    """``code`` -> code; cells with other backticks inside are left alone."""
    return cell[1:-1] if cell.count("`") == 2 and cell[0] == cell[-1] == "`" else cell


def _table_rows(path: Path) -> dict[str, list[str]]:
    """The configuration table's rows, keyed by setting name."""
    rows: dict[str, list[str]] = {}
    for line in _text(path).splitlines():
        cells = [_unquote(c.strip()) for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[1].startswith("RENKEI_"):
            rows[cells[0]] = cells
    return rows


def _documented_default(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_setting_is_documented_as_an_environment_variable(doc: Path) -> None:
    text = _text(doc)
    missing = [n for n in SETTINGS_HELP if f"RENKEI_{n.upper()}" not in text]
    assert not missing, f"{doc.name} does not document {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_configuration_table_matches_settings(doc: Path) -> None:
    rows = _table_rows(doc)
    assert sorted(rows) == sorted(SETTINGS_HELP)
    defaults, flags = Settings(), _serve_flags()
    for name, (_setting, env, flag, default, meaning) in rows.items():
        dashed = "--" + name.replace("_", "-")
        assert env == f"RENKEI_{name.upper()}"
        assert flag == (dashed if dashed in flags else ""), name
        assert default == _documented_default(getattr(defaults, name)), name
        assert meaning == SETTINGS_HELP[name], name


def test_quick_start_is_two_commands_and_ci_runs_the_second() -> None:
    lines = _quick_start_lines()
    assert len(lines) == 2, lines
    ci_lines = [line.strip() for line in _text(ROOT / ".ci" / "run").splitlines()]
    assert lines[1] in ci_lines, "CI must run the README's test command as it is"


def test_every_serve_flag_is_documented() -> None:
    flags = _serve_flags()
    assert flags, "found no renkei serve flags"
    for doc in DOCS:
        missing = sorted(f for f in flags if f"`{f}`" not in _text(doc))
        assert not missing, f"{doc.name} does not document {missing}"
