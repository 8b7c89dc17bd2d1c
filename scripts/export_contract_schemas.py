"""Write each contract's JSON Schema and the contracts' @context into contracts/schemas/.

The committed files are for readers and tools that do not run Python; the models are the
source. tests/unit/test_contracts_schemas.py fails when the files fall behind, and
``python3 scripts/export_contract_schemas.py`` brings them up to date.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from contracts import CONTRACTS, context_document  # noqa: E402

OUT = ROOT / "contracts" / "schemas"


def render(document: Any) -> str:
    """The committed text of a document: indented, UTF-8 as is, newline at the end."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def expected_files() -> dict[str, str]:
    """File name -> text, for every contract and the @context."""
    files = {f"{c.name}-{c.version}.json": render(c.json_schema) for c in CONTRACTS.values()}
    files["context.jsonld"] = render(context_document())
    return files


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, text in expected_files().items():
        (OUT / name).write_text(text, encoding="utf-8")
        print(OUT / name)


if __name__ == "__main__":
    main()
