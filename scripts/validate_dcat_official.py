"""Validate a running hub's DCAT-AP catalogue against the official DCAT-AP 3 SHACL shapes.

Not run in CI: the official shapes are published by SEMIC and nothing fetched from the
internet is committed here (docs/registry.md, "Catalogue (DCAT-AP)"), so this script takes
a local copy you downloaded yourself. CI validates against Renkei's own shapes
(registry/shapes/dcat-ap-3-renkei.ttl, tests/integration/test_catalog_dcat.py).

    python3 scripts/validate_dcat_official.py --hub https://hub.example.jp \\
        --shapes ~/dcat-ap/3.0/shacl/            # a file or a directory of *.ttl
        [--extra ~/eu-vocabularies/*.rdf]        # controlled vocabularies, if the shapes
                                                 # check classes of their concepts
        [--format text/turtle] [--report report.ttl]

The catalogue is fetched once in the chosen serialisation (JSON-LD, Turtle or RDF/XML),
parsed with rdflib and validated with pyshacl (RDFS inference, so subclasses count).
Exit 0 when it conforms (warnings allowed unless --strict), 1 when it does not, 2 when
the catalogue or the shapes cannot be read.
"""

from __future__ import annotations

import argparse
import sys
import urllib.request
from pathlib import Path

from rdflib import Graph

FORMATS = {"application/ld+json": "json-ld", "text/turtle": "turtle",
           "application/rdf+xml": "xml"}


def _rdf_files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.suffix in (".ttl", ".rdf", ".jsonld",
                                                                    ".nt", ".xml"))
        else:
            out.append(p)
    return out


def _graph(files: list[Path]) -> Graph:
    graph = Graph()
    for f in files:
        graph.parse(f)  # format guessed from the suffix
    return graph


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hub", default="http://127.0.0.1:1026", help="the hub's base URL")
    p.add_argument("--shapes", type=Path, action="append", required=True,
                   help="a local copy of the official shapes: a file or a directory")
    p.add_argument("--extra", type=Path, action="append", default=[],
                   help="RDF merged into the data graph (controlled vocabularies)")
    p.add_argument("--format", choices=sorted(FORMATS), default="text/turtle",
                   help="the serialisation to fetch and validate")
    p.add_argument("--report", type=Path, help="write the SHACL report (Turtle) here")
    p.add_argument("--strict", action="store_true", help="warnings fail too")
    args = p.parse_args(argv)

    from pyshacl import validate

    url = args.hub.rstrip("/") + "/catalog"
    try:
        req = urllib.request.Request(url, headers={"Accept": args.format})
        with urllib.request.urlopen(req, timeout=60) as resp:  # the user's own hub
            body = resp.read().decode("utf-8")
        data = Graph().parse(data=body, format=FORMATS[args.format])
        for f in _rdf_files(args.extra):
            data.parse(f)
        shape_files = _rdf_files(args.shapes)
        if not shape_files:
            raise ValueError(f"no shapes found in {', '.join(map(str, args.shapes))}")
        shapes = _graph(shape_files)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    conforms, report, text = validate(data, shacl_graph=shapes, inference="rdfs",
                                      allow_warnings=not args.strict)
    if args.report:
        report.serialize(args.report, format="turtle")
    print(f"{url} ({args.format}, {len(data)} triples) against "
          f"{len(shape_files)} shapes file(s): {'conforms' if conforms else 'DOES NOT CONFORM'}")
    if not conforms or args.strict:
        print(text)
    return 0 if conforms else 1


if __name__ == "__main__":
    raise SystemExit(main())
