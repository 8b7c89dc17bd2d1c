"""The committed contracts/schemas/ files are exactly what the models produce."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import contracts as c

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "contracts" / "schemas"


def _exporter() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "export_contract_schemas", ROOT / "scripts" / "export_contract_schemas.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_files_equal_the_models() -> None:
    expected = _exporter().expected_files()
    committed = {p.name for p in SCHEMAS.iterdir() if p.is_file()}
    assert committed == set(expected), "run python3 scripts/export_contract_schemas.py"
    for name, text in expected.items():
        assert (SCHEMAS / name).read_text(encoding="utf-8") == text, (
            f"{name} is stale: run python3 scripts/export_contract_schemas.py")


def test_files_are_the_served_documents() -> None:
    for info in c.CONTRACTS.values():
        doc = json.loads((SCHEMAS / f"{info.name}-{info.version}.json").read_text("utf-8"))
        assert doc == info.json_schema
        assert doc["x-contract"]["version"] == info.version
    context = json.loads((SCHEMAS / "context.jsonld").read_text("utf-8"))
    assert context == c.context_document()


def test_docs_describe_every_attribute_of_every_contract() -> None:
    text = (ROOT / "docs" / "contracts.md").read_text(encoding="utf-8")
    for info in c.CONTRACTS.values():
        assert f"| `{info.name}` | {info.version} |" in text, info.name
        section = text.split(f"## {info.name}\n", 1)[-1] if f"## {info.name}\n" in text else \
            text.split(f"### {info.name}", 1)[1]
        table = section.split("\n#", 1)[0]
        for attr in info.attributes:
            assert f"| `{attr}` |" in table, f"{info.name}.{attr} is not in docs/contracts.md"
    assert c.CONTEXT_URL in text and c.CONTEXT_PATH in text
