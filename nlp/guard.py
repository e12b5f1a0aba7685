"""Regexes that reject most positions at once.

Python's `re` scans fast only when a pattern opens with a literal, a character class or an
alternation of literals; then it skips, in C, every position whose character cannot start a
match. A pattern opening with a lookbehind, an optional word or a group of words (many of the
rules' do) is instead tried at every position, every alternative in turn: a long alternation
costs ~100 tests per character. `guarded` prefixes such a pattern with a lookahead for the
characters a match can start with, computed from the pattern itself (so it stays right when
the rule changes): same matches, same groups, one test per position that cannot start one.
"""

from __future__ import annotations

import re
import re._constants as _c  # the standard library's own regex parser (Python ≥ 3.11)
import re._parser as _p

_REPEATS = (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT)
_CATEGORIES = {_c.CATEGORY_DIGIT: r"\d", _c.CATEGORY_SPACE: r"\s", _c.CATEGORY_WORD: r"\w"}

# First characters: class pieces (r"\d", "a-z", "x"), or None when any character may start a
# match; with whether the sequence can match without consuming a character.
_First = tuple[list[str] | None, bool]
_PLAIN: dict[re.Pattern[str], re.Pattern[str]] = {}


def guarded(pattern: str | re.Pattern[str], flags: int = 0) -> re.Pattern[str]:
    """`re.compile(pattern, flags)`, with a first-character lookahead when the engine would
    otherwise try every position. A compiled pattern is taken with its own flags."""
    if isinstance(pattern, re.Pattern):
        pattern, flags = pattern.pattern, pattern.flags
    plain = re.compile(pattern, flags)
    if flags & (re.IGNORECASE | re.VERBOSE):
        return plain  # (cased classes, comments: not worth handling)
    parsed = _p.parse(pattern, flags)
    if parsed.getwidth()[0] > 0 and _scanned(list(parsed)):
        return plain
    pieces, nullable = _first(list(parsed))
    if pieces is None or nullable:
        return plain
    try:
        fast = re.compile(f"(?=[{''.join(dict.fromkeys(pieces))}])(?:{pattern})", flags)
    except re.error:  # e.g. inline global flags, which must open the pattern
        return plain
    _PLAIN[fast] = plain
    return fast


def plain_of(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """The pattern `guarded` made this one from (itself if it added nothing): for tests."""
    return _PLAIN.get(pattern, pattern)


def all_guarded() -> list[re.Pattern[str]]:
    """Every pattern that `guarded` has given a lookahead so far: for tests."""
    return list(_PLAIN)


def _scanned(seq: list[tuple[object, object]]) -> bool:
    """Whether `re` already skips positions for this pattern (it opens with a literal, a
    class, or an alternation whose every branch opens with a literal)."""
    while seq:
        op, av = seq[0]
        if op is _c.SUBPATTERN and not av[1] and not av[2]:  # type: ignore[index]
            seq = list(av[3])  # type: ignore[index]
            continue
        if op in (_c.LITERAL, _c.IN):
            return True
        if op is _c.BRANCH:
            return all(alt and alt[0][0] is _c.LITERAL for alt in av[1])  # type: ignore[index]
        return False
    return False


def _first(seq: list[tuple[object, object]]) -> _First:
    pieces: list[str] = []
    for op, av in seq:
        if op is _c.ASSERT and av[0] == 1:  # type: ignore[index]
            # A lookahead says what the character here must be (a superset is enough).
            ahead, nullable = _first(list(av[1]))  # type: ignore[index]
            if ahead is not None and not nullable:
                return pieces + ahead, False
            continue
        if op in (_c.ASSERT, _c.ASSERT_NOT, _c.AT):
            continue  # zero-width: says nothing about which character comes
        if op is _c.LITERAL:
            return [*pieces, re.escape(chr(av))], False  # type: ignore[arg-type]
        if op is _c.IN:
            cls = _class(av)  # type: ignore[arg-type]
            return (None if cls is None else pieces + cls), False
        if op is _c.SUBPATTERN and (av[1] or av[2]):  # type: ignore[index]
            return None, False  # (?i:…) and other flags scoped to a group: no guard
        if op in (_c.SUBPATTERN, _c.ATOMIC_GROUP):
            sub, nullable = _first(list(av[3] if op is _c.SUBPATTERN else av))  # type: ignore
        elif op is _c.BRANCH:
            sub, nullable = [], False
            for alt in av[1]:  # type: ignore[index]
                more, empty = _first(list(alt))
                if more is None:
                    return None, False
                sub += more
                nullable = nullable or empty
        elif op in _REPEATS:
            low, _high, body = av  # type: ignore[misc]
            sub, nullable = _first(list(body))
            nullable = nullable or low == 0
        else:
            return None, False  # any character, a back-reference …: no guard
        if sub is None:
            return None, False
        pieces += sub
        if not nullable:
            return pieces, False
    return pieces, True


def _class(items: list[tuple[object, object]]) -> list[str] | None:
    out: list[str] = []
    for op, av in items:
        if op is _c.LITERAL:
            out.append(re.escape(chr(av)))  # type: ignore[arg-type]
        elif op is _c.RANGE:
            lo, hi = av  # type: ignore[misc]
            out.append(f"{re.escape(chr(lo))}-{re.escape(chr(hi))}")
        elif op is _c.CATEGORY and av in _CATEGORIES:
            out.append(_CATEGORIES[av])  # type: ignore[index]
        else:
            return None  # a negated class or an unusual category: any character may start
    return out
