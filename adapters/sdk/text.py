"""Decoding and cleaning the text of Japanese public-data files.

Municipal files arrive as CP932/Shift_JIS, UTF-8 with or without a BOM, or UTF-16LE. The
bytes are always decoded whole *before* lines are split: a Shift_JIS trail byte such as
0x85 is a line break (NEL) to a naive splitter, and a UTF-16 file split on b"\\n" leaves
half characters behind.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Iterable

__all__ = [
    "MISSING_MARKERS",
    "DecodeError",
    "decode",
    "detect_encoding",
    "is_missing",
    "nfkc",
    "parse_number",
    "parse_numbers",
]

#: Values that mean "no value" in Japanese public data. Compared after NFKC and strip.
MISSING_MARKERS: frozenset[str] = frozenset(
    {"", "欠測", "///", "×", "--", "—", "―", "-", "$", "#", "未受信", "閉局", "null", "NULL",
     "None", "N/A", "n/a", "*"}
)

_CANONICAL = {"shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "cp932": "cp932",
              "ms932": "cp932", "windows-31j": "cp932", "utf-8": "utf-8", "utf8": "utf-8",
              "utf-8-sig": "utf-8-sig", "utf-16le": "utf-16-le", "utf-16-le": "utf-16-le",
              "utf-16": "utf-16"}


class DecodeError(ValueError):
    """The bytes are not text in the expected (or any recognised) encoding."""


def _canonical(encoding: str) -> str:
    # CP932 is Microsoft's superset of Shift_JIS (NEC/IBM extensions, ①, ㈱ ...): files
    # labelled Shift_JIS by their publishers are in practice CP932.
    return _CANONICAL.get(encoding.lower(), encoding.lower())


def detect_encoding(data: bytes) -> str:
    """Best guess among the encodings Japanese public files use.

    BOMs decide first; then a UTF-16LE file without a BOM betrays itself by NUL bytes in
    odd positions; then strict UTF-8 (which almost never decodes CP932 by accident);
    CP932 last.
    """
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith(codecs.BOM_UTF16_LE):
        return "utf-16"
    sample = data[:4096]
    if len(sample) >= 4 and sample[1::2].count(0) > len(sample) // 4:
        return "utf-16-le"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        data.decode("cp932")
        return "cp932"
    except UnicodeDecodeError as exc:
        raise DecodeError(f"not UTF-8, UTF-16 or CP932 text (byte {exc.start})") from exc


def decode(data: bytes, expected: str | None = None) -> tuple[str, str]:
    """Decode whole bytes; answer ``(text, encoding used)``.

    With ``expected`` (a manifest's encoding) the file must decode strictly in it, except
    that a UTF-8 BOM is always honoured and UTF-8 declared also accepts pure ASCII. A file
    in another encoding is an error, not a guess: silently reading CP932 as something else
    is how mojibake reaches a published dataset. ``expected=None`` or ``"auto"`` detects.
    """
    if expected is None or expected == "auto":
        enc = detect_encoding(data)
    else:
        enc = _canonical(expected)
        if enc == "utf-8" and data.startswith(codecs.BOM_UTF8):
            enc = "utf-8-sig"
        if enc in ("utf-16-le", "utf-16") and data.startswith(codecs.BOM_UTF16_LE):
            enc = "utf-16"
    try:
        text = data.decode(enc)
    except UnicodeDecodeError as exc:
        try:
            found = detect_encoding(data)
        except DecodeError:
            found = "unknown"
        raise DecodeError(
            f"file is not {expected} (undecodable byte at offset {exc.start}; looks like {found})"
        ) from exc
    return text.lstrip("\ufeff"), enc


def nfkc(text: str) -> str:
    """NFKC: full-width digits/letters (`１２３`, `ＩＳＢＮ`) to ASCII, half-width kana to full."""
    return unicodedata.normalize("NFKC", text)


def is_missing(raw: object, extra: frozenset[str] | set[str] = frozenset()) -> bool:
    """True when ``raw`` is None or one of the missing-value markers (after NFKC, strip)."""
    if raw is None:
        return True
    if not isinstance(raw, str):
        return False
    s = nfkc(raw).strip()
    return s in MISSING_MARKERS or s in extra or raw.strip() in extra


_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_PLAIN_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
"""A number in plain ASCII form, once stripped: NFKC and the separators leave it as is."""


def parse_number(raw: object,
                 extra_missing: frozenset[str] | set[str] = frozenset()) -> float | None:
    """A number from text such as ``" 321.52"``, ``"１，２３４"``, ``"25244.0"``; None if missing.

    Raises ValueError on text that is neither a number nor a missing marker, so a garbage
    cell is quarantined instead of silently becoming "no value".
    """
    if type(raw) is str:
        if raw.isascii():
            # the common cell, maybe padded (``"  321.52"``): ASCII is NFKC-invariant, so
            # this is what the general path below would answer, without the NFKC (and no
            # marker of MISSING_MARKERS is a number)
            s = raw.strip()
            if _PLAIN_NUMBER.fullmatch(s):
                return None if s in extra_missing else float(s)
    elif isinstance(raw, bool):
        raise ValueError(f"not a number: {raw!r}")
    elif isinstance(raw, int | float):
        return float(raw)
    if is_missing(raw, extra_missing):
        return None
    assert isinstance(raw, str)
    s = nfkc(raw).strip().replace(",", "").replace("\u3000", "")
    if not _NUMBER.match(s):
        raise ValueError(f"not a number: {raw!r}")
    return float(s)


_PLAIN_CHARS = "0123456789.+-eE"


def parse_numbers(raws: Iterable[object]) -> list[float | None]:
    """``[parse_number(raw) for raw in raws]`` (None stays None), the padded-ASCII cells read
    without a call each (a day row's 24 readings). Over the characters of a plain number
    ``float`` accepts exactly what ``_PLAIN_NUMBER`` matches (no ``inf``, ``nan`` or ``_``
    can be spelt with them), so a cell made of them alone is tried with ``float`` directly:
    a third of the regular expression's cost; anything ``float`` refuses takes
    ``parse_number`` and its error."""
    out: list[float | None] = []
    for raw in raws:
        if raw is None:
            out.append(None)
            continue
        if type(raw) is str and raw.isascii():
            s = raw.strip()
            if s and not s.strip(_PLAIN_CHARS):
                try:
                    out.append(float(s))
                    continue
                except ValueError:
                    pass
        out.append(parse_number(raw))
    return out
