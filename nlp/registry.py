"""Reading a project ledger into ProjectEntry rows for the parser."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from nlp.types import ProjectEntry

_SPLIT_NAMES = re.compile(r"[、,，;；/\n\r]+|\s{2,}")
_CODE, _NAME, _SHORT, _CONTACT = "项目编号", "项目名称", "简称", "业主联系人"


def _decode(data: bytes) -> str:
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace")


def split_names(cell: str | None) -> tuple[str, ...]:
    """陈晨、王磊 / 陈晨,王磊 / one per line → ("陈晨", "王磊")."""
    return tuple(n.strip() for n in _SPLIT_NAMES.split(cell or "") if n.strip())


def entries_from_rows(rows: list[dict[str, str]]) -> list[ProjectEntry]:
    out: list[ProjectEntry] = []
    for row in rows:
        row = {(k or "").strip(): (v or "") for k, v in row.items()}
        code, name = row.get(_CODE, "").strip(), row.get(_NAME, "").strip()
        if not code or not name:
            continue
        out.append(ProjectEntry(
            code=code, name=name, short_names=split_names(row.get(_SHORT)),
            contacts=split_names(row.get(_CONTACT)),
        ))
    return out


def entries_from_ledger(path: str | Path) -> list[ProjectEntry]:
    """Projects from a ledger CSV (UTF-8 with or without BOM, or GBK) or, through the storage
    ledger reader when it is installed, an .xlsx file."""
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        try:
            from storage.ledger.reader import read_ledger
        except ImportError as exc:
            raise ValueError("reading .xlsx ledgers needs storage.ledger.reader") from exc
        result = read_ledger(path)
        rows = getattr(result, "rows", result)
        if not rows and getattr(result, "errors", None):
            raise ValueError("; ".join(str(e) for e in result.errors[:3]))
        return [_as_entry(r) for r in rows]
    text = _decode(path.read_bytes())
    return entries_from_rows(list(csv.DictReader(io.StringIO(text))))


def _names(value: object) -> tuple[str, ...]:
    """Names from a string cell or a list of names / PersonRef-like objects."""
    if not value:
        return ()
    if isinstance(value, str):
        return split_names(value)
    out: list[str] = []
    for item in value:  # type: ignore[attr-defined]
        name = item if isinstance(item, str) else getattr(item, "name", None)
        if name:
            out.extend(split_names(str(name)))
    return tuple(out)


def _as_entry(row: object) -> ProjectEntry:
    """A reader row (dict or LedgerRow-like object) as the parser's entry."""
    if isinstance(row, ProjectEntry):
        return row
    if isinstance(row, dict):
        return entries_from_rows([row])[0]
    code = getattr(row, "key", None) or getattr(row, "code", None)
    return ProjectEntry(
        code=str(code), name=str(getattr(row, "name", "")),
        short_names=_names(getattr(row, "short_names", None)),
        contacts=_names(getattr(row, "contacts", None)),
    )
