"""Declarative adapters: a TOML mapping file instead of code.

A municipality with a plain CSV or JSON export describes it — encoding, header rows,
missing-value markers, which column becomes which attribute with unit and type, the date
format (和暦 included), the id template and the contract type — and gets an adapter that
behaves like every other one (check, describe, incremental read, quarantine, counts).
TOML rather than YAML: it is in the standard library (``tomllib``), has no implicit type
coercions (YAML reads ``NO`` as false and ``1:00`` as 60), and is what pyproject.toml is
written in. docs/adapters.md has the full reference and a worked example.
"""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from adapters.sdk import (
    Adapter,
    Dedup,
    Emit,
    Manifest,
    Outcome,
    Quarantine,
    Skip,
    SourceError,
    entity_id,
)
from adapters.sdk.contract import build
from adapters.sdk.dates import iso_jst, jst_datetime, parse_date
from adapters.sdk.geo import degrees_decimal_minutes, parse_dms_pair, tokyo_to_jgd2011
from adapters.sdk.text import is_missing, nfkc, parse_number
from contracts import Point, contract

__all__ = ["Column", "DeclarativeMapping"]

_TYPES = ("number", "integer", "text", "key")


def _norm(name: Any) -> Any:
    """Column names compared after NFKC (``℃`` = ``°C``, ``ＩＳＢＮ`` = ``ISBN``)."""
    return nfkc(name).strip() if isinstance(name, str) else name


def _unit(model: type[Any], attribute: str) -> str | None:
    extra = model.model_fields[attribute].json_schema_extra
    meta = extra.get("x-ngsi-ld", {}) if isinstance(extra, dict) else {}
    return meta.get("unitCode") if isinstance(meta, dict) else None


@dataclass(frozen=True)
class Column:
    """One source column: ``name`` is how the id template refers to it."""

    column: str
    name: str
    attribute: str | None = None
    type: str = "number"
    unit: str | None = None

    def convert(self, raw: str, missing: frozenset[str]) -> Any:
        if self.type in ("text", "key"):
            return None if is_missing(raw, missing) else nfkc(raw).strip()
        value = parse_number(raw, missing)
        if value is None or self.type == "number":
            return value
        if not value.is_integer():
            raise ValueError(f"not an integer: {raw!r}")
        return int(value)


@dataclass(frozen=True)
class DeclarativeMapping:
    manifest: Manifest
    contract_type: str
    id_template: str
    columns: tuple[Column, ...]
    header_rows: int = 1
    delimiter: str = ","
    records: str | None = None
    missing: frozenset[str] = frozenset()
    date_column: str | None = None
    date_format: str = "auto"
    hour_column: str | None = None
    time_attribute: str = "dateObserved"
    location: dict[str, Any] = field(default_factory=dict)
    #: attributes with the same value on every entity, e.g. precipitationPeriod = "PT1H"
    constants: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @classmethod
    def from_file(cls, path: Path | str) -> DeclarativeMapping:
        path = Path(path)
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
            return cls.from_dict(doc, path)
        except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: invalid mapping: {exc}") from exc

    @classmethod
    def from_dict(cls, doc: dict[str, Any], path: Path | None = None) -> DeclarativeMapping:
        a, src, t = doc["adapter"], doc.get("source", {}), doc.get("time", {})
        columns = tuple(Column(column=_norm(c["column"]), name=c.get("name", c["column"]),
                               attribute=c.get("attribute"), type=c.get("type", "number"),
                               unit=c.get("unit")) for c in doc["columns"])
        for c in columns:
            if c.type not in _TYPES:
                raise ValueError(f"column {c.column}: type must be one of {_TYPES}")
        fmt = src.get("format", "csv")
        if fmt not in ("csv", "json"):
            raise ValueError("source.format must be csv or json")
        manifest = Manifest(
            id=a["id"], name=a.get("name", a["id"]), source_format=f"declarative-{fmt}",
            contract_types=(a["contract_type"],), encoding=src.get("encoding", "utf-8"),
            schedule=a.get("schedule", "manual"), lookback=a.get("lookback", "0s"),
            description=a.get("description", ""), attribution=a.get("attribution", ""))
        mapping = cls(
            manifest=manifest, contract_type=a["contract_type"], id_template=doc["id"]["template"],
            columns=columns, header_rows=int(src.get("header_rows", 1)),
            delimiter=src.get("delimiter", ","), records=src.get("records") if fmt == "json"
            else None, missing=frozenset(src.get("missing", [])),
            date_column=_norm(t.get("date_column")), date_format=t.get("date_format", "auto"),
            hour_column=_norm(t.get("hour_column")),
            time_attribute=t.get("attribute", "dateObserved"), constants=doc.get("constants", {}),
            location={k: _norm(v) if k.endswith("_column") else v
                      for k, v in doc.get("location", {}).items()}, path=path)
        model = contract(a["contract_type"]).model  # KeyError: not a contract
        for c in columns:
            if c.attribute and c.attribute not in model.model_fields:
                raise ValueError(f"column {c.column}: {a['contract_type']} has no attribute "
                                 f"{c.attribute!r}")
            want = _unit(model, c.attribute) if c.attribute else None
            if c.unit and c.unit != want:
                raise ValueError(f"column {c.column}: unit {c.unit} but the contract's "
                                 f"{c.attribute} is in {want}")
        names = {c.name for c in columns} | {"date", "time"}
        try:
            mapping.id_template.format(**{n: "x" for n in names})
        except KeyError as exc:
            raise ValueError(f"id template names an unknown column {exc}") from exc
        return mapping

    def adapter(self, source: str | Path | None = None, *, data: bytes | None = None) -> Adapter:
        """An adapter for ``source``; with neither source nor data, the fixture next to the file."""
        if source is None and data is None and self.path is not None:
            for ext in (".csv", ".json"):
                if self.path.with_suffix(ext).exists():
                    source = self.path.with_suffix(ext)
        return DeclarativeAdapter(self, source, data=data)


class DeclarativeAdapter(Adapter):
    """The adapter a :class:`DeclarativeMapping` describes."""

    manifest = Manifest(id="declarative", name="declarative", source_format="declarative",
                        contract_types=("Thing",))

    def __init__(self, mapping: DeclarativeMapping, source: str | Path | None = None, *,
                 data: bytes | None = None) -> None:
        self.mapping = mapping
        self.manifest = mapping.manifest  # type: ignore[misc]
        self.produces = {mapping.contract_type: tuple(  # type: ignore[misc]
            c.attribute for c in mapping.columns if c.attribute)}
        super().__init__(source, data=data)
        # CSV rows are numbered by line; JSON records by their index
        self.row_unit = "line" if mapping.records is None else "record"  # type: ignore[misc]

    def rows(self, text: str) -> Iterator[Outcome]:
        dedup = Dedup()
        for number, raw, record in self._records(text):
            if not record:
                yield Skip(self.source, number, "blank line")
                continue
            try:
                emit = Emit(self.source, number, [], None)
                entity, cursor = self._entity(record)
                emit.entities.append(entity)
                emit.cursor = cursor
            except (ValueError, KeyError) as exc:
                yield Quarantine(self.source, number, raw, str(exc))
                continue
            yield dedup.check(emit, raw, entity)

    def _records(self, text: str) -> Iterator[tuple[int, str, dict[str, Any]]]:
        m = self.mapping
        if m.records is not None:
            try:
                doc: Any = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                raise SourceError(f"{self.source}: not JSON (truncated?): {exc}") from exc
            for part in m.records.split(".") if m.records else []:
                doc = doc[part]
            if not isinstance(doc, list):
                raise SourceError(f"{self.source}: {m.records!r} is not a list of records")
            for i, rec in enumerate(doc, 1):
                if not isinstance(rec, dict):
                    yield i, orjson.dumps(rec).decode(), {"__error__": "record is not an object"}
                    continue
                self._check_header([_norm(k) for k in rec])
                yield i, orjson.dumps(rec).decode(), {_norm(k): "" if v is None else str(v)
                                                      for k, v in rec.items()}
            return
        lines = text.splitlines()
        if len(lines) < m.header_rows:
            raise SourceError(f"{self.source}: truncated: no header row")
        header = [_norm(h) for h in next(csv.reader([lines[m.header_rows - 1]],
                                                            delimiter=m.delimiter))]
        self._check_header(header)
        reader = csv.reader(io.StringIO("\n".join(lines[m.header_rows:])), delimiter=m.delimiter)
        for i, fields in enumerate(reader, m.header_rows + 1):
            raw = lines[i - 1] if i - 1 < len(lines) else m.delimiter.join(fields)
            if not raw.strip():
                yield i, raw, {}
                continue
            if len(fields) != len(header):
                yield i, raw, {"__error__": f"expected {len(header)} fields, got {len(fields)}"}
                continue
            yield i, raw, dict(zip(header, fields, strict=True))

    def _check_header(self, header: list[str]) -> None:
        m = self.mapping
        wanted = [c.column for c in m.columns]
        for extra in (m.date_column, m.hour_column, m.location.get("lat_column"),
                      m.location.get("lon_column")):
            if extra:
                wanted.append(extra)
        missing = [w for w in wanted if w not in header]
        if missing:
            raise SourceError(f"{self.source}: unexpected header: missing columns {missing}")

    def _entity(self, record: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        m = self.mapping
        if "__error__" in record:
            raise ValueError(record["__error__"])
        values: dict[str, Any] = {}
        for c in m.columns:
            try:
                values[c.name] = c.convert(record[c.column], m.missing)
            except ValueError as exc:
                raise ValueError(f"column {c.column}: {exc}") from exc
        observed: str | None = None
        keys = {k: ("" if v is None else v) for k, v in values.items()}
        if m.date_column:
            d = parse_date(record[m.date_column], m.date_format)
            hour = 0
            if m.hour_column:
                h = parse_number(record[m.hour_column])
                if h is None:
                    raise ValueError(f"column {m.hour_column}: no hour")
                hour = int(h)
            dt = jst_datetime(d, hour)
            observed = iso_jst(dt)
            keys["time"] = dt.strftime("%Y%m%dT%H%M")
            keys["date"] = keys["time"][:8]
        for c in m.columns:
            if c.type == "key" and values[c.name] is None:
                raise ValueError(f"column {c.column}: key is missing")
        info = contract(m.contract_type)
        attrs: dict[str, Any] = dict(m.constants)
        for c in m.columns:
            if c.attribute:
                attrs[c.attribute] = values[c.name]
        if observed:
            attrs[m.time_attribute] = observed
        attrs["location"] = self._location(record)
        if info.is_observation and "quality" not in attrs:
            measured = info.model.measured  # type: ignore[attr-defined]
            attrs["quality"] = ("normal" if any(attrs.get(a) is not None for a in measured)
                                else "missing")
        entity = build(info.model, id=entity_id(m.contract_type, m.id_template.format(**keys)),
                       **attrs)
        return entity, observed

    def _location(self, record: dict[str, Any]) -> Point | None:
        spec = self.mapping.location
        if not spec:
            return None
        if "lat" in spec:
            lat, lon = float(spec["lat"]), float(spec["lon"])
        else:
            la, lo = record[spec["lat_column"]], record[spec["lon_column"]]
            fmt = spec.get("format", "decimal")
            if fmt == "dms":
                lat, lon = parse_dms_pair(f"{la} {lo}")
            elif fmt == "degrees_minutes":
                lat = degrees_decimal_minutes([float(x) for x in la.split()])
                lon = degrees_decimal_minutes([float(x) for x in lo.split()])
            else:
                lat_v, lon_v = parse_number(la), parse_number(lo)
                if lat_v is None or lon_v is None:
                    return None
                lat, lon = lat_v, lon_v
        if spec.get("datum", "jgd2011") == "tokyo":
            lat, lon = tokyo_to_jgd2011(lat, lon)
        return Point(coordinates=(round(lon, 6), round(lat, 6)))
