"""Size checks on an uploaded CSV or XLSX before anything loads it.

An XLSX is a zip of XML: a 5 KB file can unpack to gigabytes (a member of zeros), claim a
used range of A1:XFD1048576 (one far cell) or merge a whole sheet, and a normal-mode load
would allocate every one of those cells. So before openpyxl sees the file we check, cheaply
and with bounded memory: the file size; the zip's member count, each member's unpacked size
and compression ratio (zipfile never unpacks past the size the directory declares); then
each worksheet's XML, streamed through expat without building a tree, for its <dimension>,
the cells it actually holds (a dimension can lie), and its merged ranges. What fits is
loaded read-only (streamed) by `tables.py`, using the extent and merges found here.

The limits suit a district ledger — a few thousand projects, a few dozen columns — with
ample room; a file over any of them is rejected whole with a Chinese message naming the
limit. Entity expansion ("billion laughs") is refused by expat itself (2.4+).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

MAX_FILE_BYTES = 20 * 1024 * 1024  # the file as uploaded
MAX_ROWS = 10_000  # rows of one sheet (a district has a few thousand projects at most)
MAX_COLUMNS = 200  # columns of one sheet (a ledger has 20–40)
MAX_MERGED = 5_000  # merged ranges on one sheet
MAX_MEMBERS = 1_000  # parts inside the zip
MAX_MEMBER_BYTES = 64 * 1024 * 1024  # one part, unpacked
MAX_UNPACKED_BYTES = 256 * 1024 * 1024  # all parts, unpacked (pictures included)
MAX_RATIO = 100  # unpacked / packed for a part over RATIO_FLOOR; XML packs 5–20 times
RATIO_FLOOR = 1024 * 1024

_CHUNK = 64 * 1024


class Refused(Exception):
    """The file is over a limit or its XML cannot be read safely; the message (Chinese)
    names which."""


@dataclass
class SheetShape:
    """One worksheet part as found by the scan: its used extent and merged ranges."""

    max_row: int = 0
    max_col: int = 0
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)  # r1, c1, r2, c2


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - 64
    return number


def _column_letters(number: int) -> str:
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def check_file_size(path: Path) -> None:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise Refused(f"文件太大（{_mb(size)}），上限 {MAX_FILE_BYTES // 1024 // 1024} MB")


def _extent_text() -> str:
    return f"最多 {MAX_ROWS} 行、{MAX_COLUMNS} 列（{_column_letters(MAX_COLUMNS)}列）"


def _cell(ref: str) -> tuple[int, int]:
    """(row, column) of 'B12'; ValueError when it is not a cell reference."""
    ref = ref.replace("$", "")
    split = len(ref.rstrip("0123456789"))
    letters, digits = ref[:split], ref[split:]
    if not (letters.isascii() and letters.isalpha()) or not digits or len(letters) > 3:
        raise ValueError(ref)
    return int(digits), _column_number(letters)


def _range(ref: str) -> tuple[int, int, int, int]:
    first, _, last = ref.partition(":")
    r1, c1 = _cell(first)
    r2, c2 = _cell(last) if last else (r1, c1)
    return min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2)


def _local(tag: str) -> str:
    return tag.rpartition(" ")[2]  # expat with namespace_separator=" " gives "uri local"


class _SheetScan:
    """Expat handlers for one worksheet part; raise Refused as soon as a limit is passed."""

    def __init__(self, sheet: str) -> None:
        self.sheet = sheet
        self.shape = SheetShape()
        self.row = 0  # current row number
        self.col = 0  # column of the last cell in the current row

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        name = _local(tag)
        if name == "c":
            ref = attrs.get("r")
            row, col = _cell(ref) if ref else (self.row, self.col + 1)
            self.col = col
            if row > MAX_ROWS or col > MAX_COLUMNS:
                where = ref or f"{_column_letters(col)}{row}"
                raise Refused(f"工作表“{self.sheet}”在 {where} 有单元格，超出上限："
                             f"{_extent_text()}；请删除多余的行列后另存再导入")
            self.shape.max_row = max(self.shape.max_row, row)
            self.shape.max_col = max(self.shape.max_col, col)
        elif name == "row":
            ref = attrs.get("r")
            self.row = int(ref) if ref and ref.isdigit() else self.row + 1
            self.col = 0
            if self.row > MAX_ROWS:
                raise Refused(f"工作表“{self.sheet}”超过 {MAX_ROWS} 行的上限（第{self.row}行）；"
                             f"台账请按项目分表或删除多余的行后再导入")
        elif name == "dimension":
            self._check_range(attrs.get("ref", ""), "使用范围")
        elif name == "mergeCell":
            box = self._check_range(attrs.get("ref", ""), "合并单元格")
            if box is not None:
                self.shape.merged.append(box)
                if len(self.shape.merged) > MAX_MERGED:
                    raise Refused(f"工作表“{self.sheet}”的合并单元格超过 {MAX_MERGED} 处的上限")

    def _check_range(self, ref: str, what: str) -> tuple[int, int, int, int] | None:
        try:
            box = _range(ref)
        except ValueError:
            return None  # unreadable: openpyxl decides; extents are checked cell by cell
        if box[2] > MAX_ROWS or box[3] > MAX_COLUMNS:
            raise Refused(f"工作表“{self.sheet}”的{what} {ref} 超出上限：{_extent_text()}；"
                         f"请删除多余的行列（或取消大范围合并）后另存再导入")
        return box


def _scan_sheet(archive: zipfile.ZipFile, member: str, sheet: str) -> SheetShape:
    scan = _SheetScan(sheet)
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartElementHandler = scan.start
    with archive.open(member) as source:
        while chunk := source.read(_CHUNK):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    return scan.shape


def _check_members(archive: zipfile.ZipFile) -> None:
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise Refused(f"文件内部件过多（{len(infos)} 个，上限 {MAX_MEMBERS}），不像是台账")
    total = 0
    for info in infos:
        size = info.file_size
        total += size
        if size > MAX_MEMBER_BYTES:
            raise Refused(f"文件内“{info.filename}”解压后 {_mb(size)}，"
                         f"超过单个部件 {MAX_MEMBER_BYTES // 1024 // 1024} MB 的上限")
        if size > RATIO_FLOOR and size > MAX_RATIO * max(info.compress_size, 1):
            ratio = size // max(info.compress_size, 1)
            raise Refused(f"文件内“{info.filename}”压缩比异常（{ratio}:1，上限 {MAX_RATIO}:1），"
                         f"疑似压缩炸弹")
    if total > MAX_UNPACKED_BYTES:
        raise Refused(f"文件解压后共 {_mb(total)}，超过 {MAX_UNPACKED_BYTES // 1024 // 1024} MB"
                     f" 的上限")


def _sheet_names(archive: zipfile.ZipFile) -> dict[str, str]:
    """Worksheet part -> sheet name, from workbook.xml and its relationships (bounded by the
    member checks). A part not named there is still scanned, under its file name."""
    names: dict[str, str] = {}
    rids: dict[str, str] = {}
    targets: dict[str, str] = {}

    def sheet(tag: str, attrs: dict[str, str]) -> None:
        if _local(tag) == "sheet":
            rid = next((v for k, v in attrs.items() if _local(k) == "id"), None)
            if rid:
                rids[rid] = attrs.get("name", "")

    def rel(tag: str, attrs: dict[str, str]) -> None:
        if _local(tag) == "Relationship" and attrs.get("Id"):
            target = attrs.get("Target", "")
            targets[attrs["Id"]] = (target.lstrip("/") if target.startswith("/")
                                    else f"xl/{target}")

    for member, handler in (("xl/workbook.xml", sheet), ("xl/_rels/workbook.xml.rels", rel)):
        if member not in archive.namelist():
            continue
        parser = expat.ParserCreate(namespace_separator=" ")
        parser.StartElementHandler = handler
        with archive.open(member) as source:
            while chunk := source.read(_CHUNK):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
    for rid, name in rids.items():
        if rid in targets:
            names[targets[rid]] = name
    return names


def check_xlsx(path: Path) -> dict[str, SheetShape]:
    """Every worksheet part's shape, keyed by its name inside the zip, or Refused.
    Other damage (not a zip, broken XML) is left to openpyxl to report."""
    check_file_size(path)
    with zipfile.ZipFile(path) as archive:
        _check_members(archive)
        names = _sheet_names(archive)
        present = set(archive.namelist())
        parts = {m for m in present if m.startswith("xl/worksheets/") and m.endswith(".xml")}
        shapes = {}
        for member in sorted(parts | (set(names) & present)):
            label = names.get(member, member.rpartition("/")[2])
            try:
                shapes[member] = _scan_sheet(archive, member, label)
            except expat.ExpatError as exc:  # entity expansion refused, or not XML
                raise Refused(f"工作表“{label}”的内容无法解析，文件可能已损坏或经过构造"
                              f"（{expat.ErrorString(exc.code)}）") from None
        return shapes


def check_csv_rows(count: int, width: int, name: str) -> None:
    """Called per row while reading a CSV: stop at the first row over a limit."""
    if count > MAX_ROWS:
        raise Refused(f"文件“{name}”超过 {MAX_ROWS} 行的上限；"
                     f"台账请分成几个文件或删除多余的行后再导入")
    if width > MAX_COLUMNS:
        raise Refused(f"文件“{name}”第{count}行有 {width} 列，超过 {MAX_COLUMNS} 列的上限")
