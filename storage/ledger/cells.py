"""Pure parsers for single ledger cells: numbers, dates, construction periods, people.

Each parser returns the value or raises `CellError` with a Chinese message; the reader turns
that into a `LedgerError` naming the sheet, row and column.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple


class CellError(ValueError):
    """A cell that cannot be understood; the message is shown to the user as is."""


class PersonRef(NamedTuple):
    """A person named in a cell: name, and phone / title when the cell gives them."""

    name: str
    phone: str | None = None
    title: str | None = None


EMPTY_MARKS = frozenset({"", "-", "—", "——", "－", "/", "／", "无", "暂无", "none", "null"})
NAME_SEPARATORS = re.compile(r"[、，,;；/／\n\r]+")
PHONE = re.compile(
    r"(?<!\d)(?:\+?86[- ]?)?"
    r"(1[3-9]\d[- ]?\d{4}[- ]?\d{4}|0\d{2,3}-?\d{7,8}(?:-\d{1,5})?|\d{7,8})(?!\d)"
)
NAME = re.compile(r"^[^\W\d_][^\W\d_·•.]*(?:[·•.][^\W\d_]+)*$")  # letters, '·' in 阿卜杜·热合曼
PHONE_LABEL = re.compile(r"[（(]?\s*(?:联系)?(?:电话|手机号?|tel|TEL|Tel)?\s*[：:]?\s*$")
TITLE = re.compile(r"^(?P<name>[^（(]+)[（(](?P<title>[^）)]+)[）)]$")


def text_of(value: Any) -> str:
    """A cell as stripped text (numbers without a spurious '.0')."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def is_empty(value: Any) -> bool:
    return text_of(value).lower() in EMPTY_MARKS


def squeeze(text: str) -> str:
    """Text without padding: whitespace next to a Chinese character goes ('王  磊', '规划 26 路'),
    a single space stays between Latin words."""
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"(?<=[^\x00-\x7f]) | (?=[^\x00-\x7f])", "", text)


def match_key(name: str) -> str:
    """A project name for matching: NFKC (full-width brackets = half-width), no whitespace."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", name))


def generated_code(name: str) -> str:
    """A stable code for a project without one: 'X' + 6 hex digits of its matching key."""
    return "X" + hashlib.sha1(match_key(name).encode("utf-8")).hexdigest()[:6].upper()


def plain_decimal(number: Decimal) -> Decimal:
    """Trailing zeros dropped without an exponent: 100.000000 → 100, 16.600 → 16.6."""
    number = number.normalize()
    return number.quantize(Decimal(1)) if number == number.to_integral_value() else number


# --- numbers --------------------------------------------------------------------------------

_UNIT_SUFFIX = re.compile(r"(亿元|亿|万元|万|元)$")


def parse_decimal(value: Any, *, scale: Decimal = Decimal(1)) -> Decimal | None:
    """A non-negative amount, divided by `scale` (10000 turns 万元 into 亿元); empty → None."""
    if is_empty(value):
        return None
    if isinstance(value, bool):
        raise CellError(f"不是数字：{value}")
    if isinstance(value, int | float | Decimal):
        raw = repr(value) if isinstance(value, float) else str(value)
    else:
        raw = squeeze(str(value)).replace(",", "")
        raw = _UNIT_SUFFIX.sub("", raw)
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise CellError(f"不是数字：{text_of(value)}") from None
    if not number.is_finite():
        raise CellError(f"不是数字：{text_of(value)}")
    if number < 0:
        raise CellError(f"不能为负数：{text_of(value)}")
    number = number / scale
    if number.as_tuple().exponent < -6:  # type: ignore[operator]
        number = number.quantize(Decimal("0.000001"))
    return plain_decimal(number)


# --- dates and periods ----------------------------------------------------------------------

_DATE = re.compile(r"^(\d{4})\s*[-./年]\s*(\d{1,2})\s*[-./月]\s*(\d{1,2})\s*日?$")
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


def parse_date(value: Any) -> dt.date | None:
    """2023-06-30, 2023/6/30, 2023.6.30, 2023年6月30日, 20230630, an Excel date or serial."""
    if is_empty(value):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 20000 < value < 80000:  # an Excel serial number the cell format did not mark
            from openpyxl.utils.datetime import from_excel  # only for XLSX cells

            result = from_excel(value)
            if isinstance(result, dt.datetime):
                return result.date()
        value = text_of(value)
    text = squeeze(str(value))
    match = _DATE.match(text) or _COMPACT_DATE.match(text)
    if match:
        try:
            return dt.date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            pass
    raise CellError(f"无法识别的日期：{text_of(value)}（应为 2023-06-30）")


_PERIOD_END = re.compile(r"^(\d{4})(?:[.\-/年](\d{1,2})月?(?:[.\-/](\d{1,2})日?)?)?年?$")
_RANGE_DASH = re.compile(r"[～~至—–－]+|-(?=\d{4})")


def _period_point(text: str, *, end: bool) -> dt.date:
    match = _PERIOD_END.match(text)
    if not match:
        raise ValueError(text)
    year = int(match[1])
    month = int(match[2]) if match[2] else (12 if end else 1)
    if match[3]:
        return dt.date(year, month, int(match[3]))
    day = calendar.monthrange(year, month)[1] if end else 1
    return dt.date(year, month, day)


def parse_period(value: Any) -> tuple[str | None, dt.date | None, dt.date | None]:
    """'2021.10-2026.10' → (text, 2021-10-01, 2026-10-31); years alone cover whole years."""
    if is_empty(value):
        return None, None, None
    text = text_of(value)
    compact = squeeze(text)
    parts = [p for p in _RANGE_DASH.split(compact) if p]
    try:
        if len(parts) == 2:
            start, end = _period_point(parts[0], end=False), _period_point(parts[1], end=True)
        elif len(parts) == 1:
            start, end = _period_point(parts[0], end=False), _period_point(parts[0], end=True)
        else:
            raise ValueError(text)
    except ValueError:
        raise CellError(f"无法识别的建设期：{text}（应为 2021.10-2026.10）") from None
    if end < start:
        raise CellError(f"建设期结束早于开始：{text}")
    return text, start, end


# --- people ---------------------------------------------------------------------------------

def normalize_phone(text: str) -> str:
    phone = re.sub(r"^\+?86[- ]?", "", text.strip()) if len(text.strip()) > 11 else text.strip()
    if re.fullmatch(r"1\d{2}[- ]?\d{4}[- ]?\d{4}", phone):
        phone = re.sub(r"[- ]", "", phone)
    return phone


def _names_in(segment: str) -> list[PersonRef]:
    """Names in a piece of text without phones; single characters separated by spaces are
    padding inside one name ('王  磊'), longer tokens are separate names ('张三 李四')."""
    segment = segment.strip(" \t：:")
    if not segment:
        return []
    tokens = segment.split()
    names = tokens if all(len(t) > 1 for t in tokens) else ["".join(tokens)]
    people = []
    for raw in names:
        name, title = squeeze(raw), None
        match = TITLE.match(name)
        if match:
            name, title = match["name"], match["title"]
        name = name.strip("：:")
        if not name:
            continue
        if not NAME.match(name) or len(name) > 32:
            raise CellError(f"无法识别的姓名：{raw}")
        people.append(PersonRef(name, None, title))
    return people


def parse_people(value: Any) -> list[PersonRef]:
    """People in a cell: names separated by 、，,;；/ or new lines, each optionally followed by a
    phone ('张三 13800000000', '张三：138…') and a title in brackets ('韩立新（副区长）')."""
    if is_empty(value):
        return []
    people: list[PersonRef] = []
    for part in NAME_SEPARATORS.split(text_of(value)):
        if not part.strip():
            continue
        pos = 0
        for match in PHONE.finditer(part):
            text = PHONE_LABEL.sub("", part[pos:match.start()])  # '张三（电话：' → '张三'
            before = _names_in(text)
            if not before:
                raise CellError(f"电话 {match[0].strip()} 前没有姓名")
            people.extend(before[:-1])
            last = before[-1]
            people.append(last._replace(phone=normalize_phone(match[0])))
            pos = match.end()
            while pos < len(part) and part[pos] in ")）":  # '张三（138…）'
                pos += 1
        people.extend(_names_in(part[pos:]))
    seen: set[str] = set()
    for person in people:
        if person.name in seen:
            raise CellError(f"姓名重复：{person.name}")
        seen.add(person.name)
    return people


def parse_phones(value: Any) -> list[str | None]:
    """Phones in a phone-only cell, in order; '—' keeps a place for a person without one."""
    if is_empty(value):
        return []
    phones: list[str | None] = []
    for part in re.split(r"[、，,;；/／\n\r]+|\s{2,}", text_of(value)):
        part = part.strip()
        if part.lower() in EMPTY_MARKS:
            phones.append(None)
            continue
        if not PHONE.fullmatch(part):
            raise CellError(f"无法识别的电话：{part}")
        phones.append(normalize_phone(part))
    return phones


def with_phones(people: list[PersonRef], phones: list[str | None]) -> list[PersonRef]:
    """Pair a phone column with a name column, in order; a person keeps a phone given inline."""
    if len(phones) > len(people):
        raise CellError(f"电话（{len(phones)} 个）比姓名（{len(people)} 个）多")
    result = []
    for i, person in enumerate(people):
        phone = phones[i] if i < len(phones) else None
        if phone and person.phone and phone != person.phone:
            raise CellError(f"{person.name} 的电话不一致：{person.phone} 与 {phone}")
        result.append(person._replace(phone=person.phone or phone))
    return result


def parse_names(value: Any) -> list[str]:
    """Plain names (departments, short names, owners): split, whitespace removed, no repeats."""
    if is_empty(value):
        return []
    names: list[str] = []
    for part in NAME_SEPARATORS.split(text_of(value)):
        name = squeeze(part)
        if name and name not in names:
            names.append(name)
    return names


# A spreadsheet takes text starting with these as a formula (CSV/formula injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


def csv_safe(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run: text it would take for a formula gets a
    leading apostrophe (shown as typed in Excel; `csv_unquote` takes it off on import).
    Plain signed numbers ('-1.5') run nothing and stay as they are."""
    if (isinstance(value, str) and value.startswith(FORMULA_STARTS)
            and not _PLAIN_NUMBER.fullmatch(value)):
        return "'" + value
    return value


def csv_unquote(value: str) -> str:
    """The text `csv_safe` protected, as it was."""
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_STARTS) else value


def neutralise_formulas(sheet: Any) -> int:
    """Make every text cell of an openpyxl sheet that a spreadsheet would read as a formula
    plain text: stored as a string with Excel's quote prefix (shown as typed, and editing the
    cell keeps it text). Returns how many cells were changed."""
    changed = 0
    for row in sheet.iter_rows():
        for cell in row:
            value = cell.value
            if isinstance(value, str) and value.startswith(FORMULA_STARTS):
                cell.data_type = "s"
                cell.quotePrefix = True
                changed += 1
    return changed
