"""Text normalisation before any matching: full-width → half-width, traditional → simplified.

Offsets are preserved (every step maps one character to one character), so spans found in the
normalised text index the original message too.
"""

from __future__ import annotations

import functools
import os
import re

# Full-width ASCII (U+FF01–U+FF5E) → ASCII; ideographic space → space. Chinese punctuation
# that has no ASCII twin (，。、；：！？) is kept: clause splitting relies on it.
_KEEP = set("，；：！？（）")
_FULLWIDTH = {
    cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F) if chr(cp) not in _KEEP
}
_FULLWIDTH[0x3000] = 0x20
# Control characters (except newline/tab) become spaces: they carry no meaning and must not
# join or split words unexpectedly.
_CONTROL = {cp: 0x20 for cp in [*range(0, 9), 11, 12, *range(14, 32), 127]}
# Shorthand marks (same length, so offsets hold): a tick is "done" (封顶√ → 封顶了), an arrow
# reads 到 (形象85→92%: from one figure to the next).
_MARKS = {ord(c): ord("了") for c in "✓√✔☑"} | {ord(c): ord("到") for c in "→⇒➡"}
_MAP = {**_FULLWIDTH, **_CONTROL, **_MARKS, 0x0D: 0x0A}
# As a string indexed by code point (str.translate indexes it; faster than a dict); code
# points past its end are left as they are.
_TABLE = "".join(chr(_MAP.get(cp, cp)) for cp in range(0xFF60))
# The characters the table changes: most messages hold none, and a search for them is cheaper
# than the translation (which reads the 130 KB table at every character).
_MAPPED = re.compile("[" + "".join(re.escape(chr(cp)) for cp in sorted(_MAP)) + "]")


@functools.cache
def _opencc() -> tuple[frozenset[str], re.Pattern[str], object] | None:
    """The set of characters the t2s converter would change, a class of those of them in the
    BMP, and the converter (None if unavailable)."""
    try:
        import opencc
        from opencc import OpenCC
    except ImportError:  # pragma: no cover - dependency is declared
        return None
    path = os.path.join(os.path.dirname(opencc.__file__), "dictionary", "TSCharacters.txt")
    trad: set[str] = set()
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                key, _, values = line.rstrip("\n").partition("\t")
                if len(key) == 1 and values and values.split()[0] != key:
                    trad.add(key)
    except OSError:  # pragma: no cover
        return None
    bmp = re.compile("[" + "".join(re.escape(c) for c in sorted(trad) if ord(c) <= 0xFFFF) + "]")
    return frozenset(trad), bmp, OpenCC("t2s")


# Characters beyond the BMP (emoji, rare characters).
_ASTRAL = re.compile("[\U00010000-\U0010FFFF]")


def _has_traditional(text: str, trad: frozenset[str], bmp: re.Pattern[str]) -> bool:
    """Whether a character of `trad` occurs: its BMP ones by a class searched in C (testing
    the set makes a string of every character of the text); the set itself only when the text
    has characters beyond the BMP (which make a class of thousands slow)."""
    return bool(bmp.search(text)) or (_ASTRAL.search(text) is not None
                                      and not trad.isdisjoint(text))


def to_simplified(text: str) -> str:
    """Traditional → simplified, only when a traditional character occurs (conversion is slow
    and most messages are already simplified). Keeps length: phrase conversions that would
    change it are undone character by character."""
    conv = _opencc()
    if conv is None:
        return text
    trad, bmp, cc = conv
    if not _has_traditional(text, trad, bmp):
        return text
    out = cc.convert(text)  # type: ignore[attr-defined]
    if len(out) == len(text):
        return out
    return "".join(cc.convert(ch) if ch in trad else ch for ch in text)  # type: ignore[attr-defined]




def normalize(text: str) -> str:
    """Normalise a message or a project name for matching; same length as the input."""
    return to_simplified(text.translate(_TABLE) if _MAPPED.search(text) else text)


def compact(text: str) -> str:
    """Normalised, without spaces and brackets: the key form of a project name."""
    return re.sub(r"[\s()（）【】\[\]《》\"'“”]+", "", normalize(text))


# Spoken and dialect forms → the standard ones the rules know, one character for one (offsets
# keep): Hunan/Sichuan negators (冇, 冇得, 莫得, 没得, 木有), 啥子, 礼拜 for 星期, 元月 for 一月,
# and 1200W for 1200万 (a digit then W, as typed in chat), 13.8忆 for 13.8亿 (a voice slip).
_SPOKEN = re.compile(r"冇得|莫得|没得|木有(?!限)|冇|啥子|礼拜|元月|(?<=\d)[Ww](?![A-Za-z])"
                     r"|(?<=\d)忆")
_SPOKEN_AS = {"冇得": "没有", "莫得": "没有", "没得": "没有", "木有": "没有", "冇": "没",
              "啥子": "什么", "礼拜": "星期", "元月": "一月", "W": "万", "w": "万", "忆": "亿"}
# A cheap test first, one search for all of them (万元 and 得 are everywhere; these forms are
# not).
_SPOKEN_HINT = re.compile("冇|莫得|没得|木有|啥子|礼拜|元月|W|w|忆")


def standard_speech(text: str) -> str:
    """Dialect and spoken forms rewritten as standard ones; same length as the input."""
    if _SPOKEN_HINT.search(text):
        return _SPOKEN.sub(lambda m: _SPOKEN_AS[m.group()], text)
    return text
