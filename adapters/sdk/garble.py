"""Damage a text picked up on its way out of a Japanese office system, found per cell.

Two kinds reach the open-data files: *replacement characters* — U+FFFD, or a ``?`` an
export wrote for a character outside CP932 (``第?捜査官`` for ``第Ⅸ捜査官``, ``20?`` for
``20㎝``) — where the text is still right but for one character, so the row is written and
flagged; and *mojibake* — UTF-8 text decoded as CP932 somewhere upstream and saved again
(``縺ゅｊ`` for ``あり``) — where nothing of the cell is right, so the row is quarantined
with the text it would have been. A ``?`` among ASCII (``Why?``) is a question mark.
"""

from __future__ import annotations

import re

__all__ = ["mojibake", "replacement_marks"]

#: a ``?`` touching a non-ASCII character, or a digit then ``?`` (``20?`` for ``20㎝``)
_QMARK = re.compile(r"[^\x00-\x7f]\?|\?[^\x00-\x7f]|\d\?(?![\x00-\x7f]*[A-Za-z])")


def replacement_marks(text: str) -> bool:
    """Does ``text`` hold a replacement character rather than the character meant?"""
    return "\ufffd" in text or ("?" in text and _QMARK.search(text) is not None)


def mojibake(text: str) -> str | None:
    """What ``text`` was before UTF-8 bytes were read as CP932, or None when it is not
    such mojibake. Its CP932 bytes are decoded as UTF-8: real Japanese gives mostly
    invalid sequences, mojibake gives kana and kanji again (a byte the first reading could
    not map, kept as U+FFFD, costs only its own character). At least two Japanese
    characters must come back, outnumbering the failures two to one."""
    if text.isascii():
        return None
    before = text.encode("cp932", "replace").decode("utf-8", "replace")
    good = sum(1 for c in before if _JAPANESE.match(c))
    bad = before.count("\ufffd")
    if before == text or good < 2 or good <= 2 * bad:
        return None
    return before


_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff\u3000-\u303f\uff00-\uffef]")
