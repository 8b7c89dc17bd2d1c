"""docs/adapters.md keeps up with the code: every command, every adapter, the example."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

from adapters.cli import _parser
from adapters.sdk.loader import discover

ROOT = Path(__file__).parents[2]
DOC = (ROOT / "docs" / "adapters.md").read_text(encoding="utf-8")


def test_every_cli_command_is_documented() -> None:
    sub = next(a for a in _parser()._actions if a.dest == "command")
    commands = set(sub.choices)  # type: ignore[arg-type]
    assert commands == {"list", "check", "describe", "run", "schedule", "worker", "export",
                        "quarantine"}
    for command in commands:
        assert re.search(rf"^\| `{command}[ `]", DOC, re.M), command


def test_every_installed_adapter_has_a_mapping_section_and_readme() -> None:
    found = discover()
    assert {"jma-amedas", "mlit-water-level", "jartic-traffic", "library-loans",
            "library-circulation", "ogawa-raingauge"} <= set(found)
    for aid, target in found.items():
        if isinstance(target, type):
            assert f"### {aid}\n" in DOC, aid
            module = sys.modules[target.__module__]
            assert (Path(module.__file__ or "").parent / "README.md").exists(), aid


def test_worked_example_matches_the_mapping_file() -> None:
    doc = tomllib.loads((ROOT / "adapters" / "examples" / "ogawa_raingauge.toml").read_text())
    assert doc["source"]["encoding"] == "cp932" and "`cp932`" in DOC
    assert f'header_rows = {doc["source"]["header_rows"]}' in DOC
    assert f'`missing = {doc["source"]["missing"]}`'.replace("'", '"') in DOC
    assert doc["id"]["template"] in DOC
    assert doc["constants"]["precipitationPeriod"] in DOC
