"""Homophone slips of voice input (主体风顶, 俊工验收, 钢贴城): the sound is right, the
characters wrong. Domain words and project names are matched by their toneless pinyin
(pypinyin's character readings) and the slip is rewritten to the word it sounds like, keeping
the text's length so that offsets stay valid. Each rewrite is reported so that what it
produced can be marked for the contact to check.

How it stays fast: every Chinese character is translated (str.translate, in C) to one
private-use character standing for its syllable; the words' syllable strings form one regex
built as a trie, searched over the translated text. Only a hit whose characters differ from
the word costs anything more.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

_HAN = re.compile(r"^[\u4e00-\u9fff]+$")
_PUA = 0xE000  # private-use characters stand for syllables


@functools.cache
def _table() -> str:
    """The translation table as a string indexed by code point (compact, cache-friendly:
    str.translate indexes it; code points past its end stay as they are)."""
    table = _syllables()[0]
    return "".join(chr(table.get(cp, cp)) for cp in range(0xA000))


@functools.cache
def _syllables() -> tuple[dict[int, int], dict[str, str]]:
    """(translation table Han character → syllable character, syllable → syllable character).
    A character with several readings stands for its first (most common) one."""
    from pypinyin.pinyin_dict import pinyin_dict

    ids: dict[str, str] = {}
    table: dict[int, int] = {}
    for cp, readings in pinyin_dict.items():
        if not 0x4E00 <= cp <= 0x9FFF:
            continue
        syl = _toneless(readings.split(",")[0])
        table[cp] = ord(ids.setdefault(syl, chr(_PUA + len(ids))))
    return table, ids


def _toneless(syllable: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", syllable)
                   if not unicodedata.combining(c))


def _key(word: str, contextual: bool) -> str | None:
    """The syllable string of a word: in its contextual reading (重庆 → chong qing, slower),
    or each character's first reading (fast, for thousands of project names)."""
    from pypinyin import Style, lazy_pinyin

    table, ids = _syllables()
    if not contextual:
        key = word.translate(table)
        return key if all(_PUA <= ord(c) < _PUA + 0x1000 for c in key) else None
    out = []
    for syl in lazy_pinyin(word, style=Style.NORMAL, errors="ignore"):
        code = ids.get(syl)
        if code is None:
            return None
        out.append(code)
    return "".join(out) if len(out) == len(word) else None


def _heads_pattern(heads: Iterable[str]) -> str:
    """A regex for two-character strings: each first character with a class of seconds."""
    seconds: dict[str, set[str]] = {}
    for head in heads:
        seconds.setdefault(head[0], set()).add(head[1])
    return "|".join(re.escape(a) + "[" + "".join(sorted(re.escape(c) for c in b)) + "]"
                    for a, b in sorted(seconds.items()))


@dataclass(frozen=True, slots=True)
class Slip:
    """A homophone rewritten: text[start:end] was `heard`, now reads `word`."""

    start: int
    end: int
    heard: str
    word: str


class SoundMatcher:
    """Rewrites homophone slips of `words` (domain words and project names)."""

    def __init__(self, words: Iterable[str], names: Iterable[str], common: Mapping[str, int],
                 common_freq: int = 50) -> None:
        """`words`: domain words (read in context); `names`: project names (many)."""
        self._by_key: dict[str, list[str]] = {}
        for word, contextual in [*((w, True) for w in words), *((n, False) for n in names)]:
            if len(word) < 2 or not _HAN.match(word):
                continue
            key = _key(word, contextual)
            if key is not None and word not in self._by_key.setdefault(key, []):
                self._by_key[key].append(word)
        self._table = _table()
        # Keys by their first two syllables, longest first; one regex finds the places where
        # some key's first two syllables stand (compact to compile: second syllables as a
        # character class under each first one).
        self._by_head: dict[str, list[str]] = {}
        for key in sorted(self._by_key, key=len, reverse=True):
            self._by_head.setdefault(key[:2], []).append(key)
        self._pattern = re.compile(_heads_pattern(self._by_head)) if self._by_head else None
        self._common = common
        self._common_freq = common_freq
        self._words = frozenset(w for ws in self._by_key.values() for w in ws)

    def slips(self, text: str,
              tokens: Callable[[str], Sequence[tuple[str, int, int]]],
              likelihood: Callable[[str], float] | None = None) -> list[Slip]:
        """Slips in `text`; `tokens` segments text (only called when a candidate is found).
        `likelihood` scores a stretch of text (the segmenter's best route): a slip that cuts a
        word of the sentence in two is kept only when the sentence reads likelier with it
        (年底前头产: 前|投产 beats 前头|产, while 提前约定 beats 提|签约|定)."""
        if self._pattern is None:
            return []
        sounds = text.translate(self._table)
        found: list[Slip] = []
        pos = 0
        while (m := self._pattern.search(sounds, pos)) is not None:
            start = m.start()
            for key in self._by_head[m.group()]:  # longest first
                if sounds.startswith(key, start):
                    break
            else:
                pos = start + 1
                continue
            end = pos = start + len(key)
            heard = text[start:end]
            words = self._by_key[key]
            if heard in words:
                continue
            word = max(words, key=lambda w: sum(a == b for a, b in zip(w, heard, strict=True)))
            wrong = sum(a != b for a, b in zip(word, heard, strict=True))
            if wrong > max(1, len(word) // 3) or wrong == len(word):
                continue
            if heard in self._words:
                continue  # another word of ours (开工 / 开公 is not, 竣工 / 军工 is real)
            if self._exact_part(heard, word):
                continue  # 施工许可正在办 is 施工许可 then 正在, not 施工许可证 then 在
            if len(heard) <= 3 and self._common.get(heard, 0) >= self._common_freq:
                continue  # a real word of its own (军工, 峰顶)
            found.append(Slip(start, end, heard, word))
        if not found:
            return []
        # A slip must not cut a word of the sentence in two (提前约定 is not 签约定).
        inner: set[int] = set()
        for word, s, e in tokens(text):
            if len(word) > 1:
                inner.update(range(s + 1, e))
        return [f for f in found if (f.start not in inner and f.end not in inner)
                or (likelihood is not None and _reads_better(text, f, likelihood))]

    def _exact_part(self, heard: str, word: str) -> bool:
        """Whether `heard` is one of our words written exactly plus one character before or
        after it: the slip would only stretch a right word over the next one (施工许可正在 is
        施工许可 then 正在; 竣工验受 still reads 竣工验收)."""
        k = len(heard) - 1
        return k >= 2 and ((heard[:k] == word[:k] and heard[:k] in self._words)
                           or (heard[1:] == word[1:] and heard[1:] in self._words))


_CONTEXT = 3  # characters either side weighed with a slip that cuts a word


def _reads_better(text: str, slip: Slip, likelihood: Callable[[str], float]) -> bool:
    """Whether the Han text around a slip reads likelier with the slip rewritten."""
    lo, hi = slip.start, slip.end
    while lo > 0 and slip.start - lo < _CONTEXT and _HAN.match(text[lo - 1]):
        lo -= 1
    while hi < len(text) and hi - slip.end < _CONTEXT and _HAN.match(text[hi]):
        hi += 1
    heard = text[lo:hi]
    fixed = heard[:slip.start - lo] + slip.word + heard[slip.end - lo:]
    return likelihood(fixed) > likelihood(heard)


def apply(text: str, slips: Sequence[Slip]) -> str:
    """The text with every slip rewritten (same length)."""
    if not slips:
        return text
    chars = list(text)
    for s in slips:
        chars[s.start:s.end] = s.word
    return "".join(chars)
