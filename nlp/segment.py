"""Word segmentation with jieba's dictionary and jieba's algorithm (the most probable route
through the word graph, HMM off), giving exactly `jieba.Tokenizer.tokenize(text, HMM=False)`,
in one pass and with the words' log-probabilities computed once instead of per call. jieba
builds the graph as lists, then walks it with a generator, max() and math.log per candidate;
this is what most of the parser's time went to.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

# jieba's own block patterns (jieba.re_han_default, re_skip_default, re_eng).
_HAN = re.compile("([\u4e00-\u9fd5a-zA-Z0-9+#&\\._%\\-]+)", re.U)
_SKIP = re.compile("(\r\n|\\s)", re.U)
_ENG = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def log_freqs(freq: Mapping[str, int]) -> dict[str, float | None]:
    """Every word and prefix of a jieba dictionary (membership ends the scan, as in jieba)
    with log(frequency), None for a prefix that is no word."""
    return {w: (math.log(f) if f else None) for w, f in freq.items()}


def pairs_pattern(pairs: Iterable[str]) -> re.Pattern[str]:
    """A regex finding any of these two-character strings: each first character with the
    class of its seconds (a search scans in C, making no string per character pair)."""
    seconds: dict[str, set[str]] = {}
    for pair in pairs:
        seconds.setdefault(pair[0], set()).add(pair[1])
    if not seconds:
        return re.compile(r"(?!)")  # finds nothing
    return re.compile("|".join(re.escape(a) + "[" + "".join(sorted(map(re.escape, b))) + "]"
                               for a, b in sorted(seconds.items())))


class Segmenter:
    """jieba's dictionary (`base`, from log_freqs, shared and never modified) plus words added
    the way jieba.Tokenizer.add_word adds them."""

    def __init__(self, base: Mapping[str, float | None], total: int,
                 added: Iterable[tuple[str, int]] = ()) -> None:
        logf = dict(base)
        for word, f in added:
            logf[word] = math.log(f) if f else None  # a prefix is added only when unknown
            total += f
            for k in range(1, len(word)):
                logf.setdefault(word[:k], None)
        self._logf = logf
        self._logtotal = math.log(total)
        self._unknown = math.log(1) - self._logtotal

    def tokens(self, text: str, heads: re.Pattern[str] | None = None
               ) -> list[tuple[str, int, int]]:
        """(word, start, end) of every token, as jieba's tokenize(HMM=False) gives them.

        With `heads` (pairs_pattern of the first two characters of every word the caller looks
        for), a block that contains none of them is not segmented but given as one token: no
        word sought can be among its tokens (jieba segments each block on its own)."""
        out: list[tuple[str, int, int]] = []
        pos = 0
        # re.split with one group puts what the group matched at the odd places: the blocks
        # jieba tests with re.match, known without testing.
        for j, block in enumerate(_HAN.split(text)):
            if not block:
                continue
            if j % 2:
                if heads is not None and heads.search(block) is None:
                    out.append((block, pos, pos + len(block)))
                else:
                    self._cut(block, pos, out)
            elif len(block) == 1:  # (a lone mark, the usual case: one token, blank or not)
                out.append((block, pos, pos + 1))
            else:
                for k, x in enumerate(_SKIP.split(block)):
                    if not x:
                        continue
                    if k % 2:
                        out.append((x, pos, pos + len(x)))
                        pos += len(x)
                        continue
                    for ch in x:
                        out.append((ch, pos, pos + 1))
                        pos += 1
                continue
            pos += len(block)
        return out

    def route_score(self, s: str) -> float:
        """The log-probability of jieba's best route through `s` (one block of Han text):
        how likely the dictionary finds it as written."""
        logf, logtotal, unknown = self._logf, self._logtotal, self._unknown
        n = len(s)
        score = [0.0] * (n + 1)
        for k in range(n - 1, -1, -1):
            best = unknown + score[k + 1]
            i = k
            frag = s[k]
            while i < n and frag in logf:
                lf = logf[frag]
                if lf is not None:
                    best = max(best, lf - logtotal + score[i + 1])
                i += 1
                frag = s[k:i + 1]
            score[k] = best
        return score[0]

    def _cut(self, s: str, offset: int, out: list[tuple[str, int, int]]) -> None:
        logf, logtotal, unknown = self._logf, self._logtotal, self._unknown
        n = len(s)
        score = [0.0] * (n + 1)
        end = list(range(n + 1))
        for k in range(n - 1, -1, -1):
            best, best_x = -math.inf, k
            found = False
            i = k
            frag = s[k]
            while i < n and frag in logf:
                lf = logf[frag]
                if lf is not None:
                    found = True
                    v = lf - logtotal + score[i + 1]  # jieba's arithmetic, in its order
                    if v >= best:  # jieba's max over (score, x): ties go to the longer word
                        best, best_x = v, i
                i += 1
                frag = s[k:i + 1]
            if not found:
                best, best_x = unknown + score[k + 1], k
            score[k] = best
            end[k] = best_x
        x = 0
        buf_start = -1
        while x < n:
            y = end[x] + 1
            if y - x == 1 and s[x] in _ENG:
                if buf_start < 0:
                    buf_start = x
            else:
                if buf_start >= 0:
                    out.append((s[buf_start:x], offset + buf_start, offset + x))
                    buf_start = -1
                out.append((s[x:y], offset + x, offset + y))
            x = y
        if buf_start >= 0:
            out.append((s[buf_start:n], offset + buf_start, offset + n))
