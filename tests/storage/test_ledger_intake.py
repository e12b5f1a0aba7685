"""Oversized and hostile spreadsheets are refused before they are loaded, in bounded memory
and time (issue #14 §5: rejected within seconds and 200 MB); real ledgers still load."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook

from storage.ledger import intake
from storage.ledger.milestones import read_milestones
from storage.ledger.reader import read_ledger
from tests.conftest import FIXTURES

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
MEMORY_MB = 200  # the bound
SECONDS = 20  # generous: the machine is shared

_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="台账" sheetId="1" r:id="rId1"/></sheets></workbook>'),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'),
}


def _cells(row: int, values: list[str]) -> str:
    return "".join(
        f'<c r="{chr(65 + i)}{row}" t="inlineStr"><is><t>{v}</t></is></c>'
        for i, v in enumerate(values)
    )


def write_xlsx(path: Path, rows: list[list[str]] | None = None, *, extra_cells: str = "",
               dimension: str | None = None, merges: tuple[str, ...] = (),
               row_count: int = 0) -> Path:
    """A minimal hand-written XLSX (inline strings), so a bomb costs the test nothing to
    build: `rows` as given, then `row_count` generated project rows, then `extra_cells`."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in _PARTS.items():
            z.writestr(name, text)
        with z.open("xl/worksheets/sheet1.xml", "w") as out:
            out.write(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet '
                      b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">')
            if dimension:
                out.write(f'<dimension ref="{dimension}"/>'.encode())
            out.write(b"<sheetData>")
            number = 0
            for number, values in enumerate(rows or [], start=1):
                out.write(f'<row r="{number}">{_cells(number, values)}</row>'.encode())
            for n in range(1, row_count + 1):
                number += 1
                values = [f"X{n:05d}", f"第{n}号项目", "荷塘区"]
                out.write(f'<row r="{number}">{_cells(number, values)}</row>'.encode())
            out.write(f"{extra_cells}</sheetData>".encode())
            if merges:
                refs = "".join(f'<mergeCell ref="{m}"/>' for m in merges)
                out.write(f'<mergeCells count="{len(merges)}">{refs}</mergeCells>'.encode())
            out.write(b"</worksheet>")
    return path


HEADER = ["项目编号", "项目名称", "所在地"]

_PROBE = """
import json, sys, time
started = time.monotonic()
from storage.ledger.reader import read_ledger
ledger = read_ledger(sys.argv[1])
print(json.dumps({
    "errors": [str(e) for e in ledger.errors], "rows": len(ledger.rows),
    "seconds": time.monotonic() - started,
}, ensure_ascii=False))
"""

# Linux carries a process's ru_maxrss over exec, so a child forked from pytest would report
# pytest's own size. A small launcher runs the probe and reads its children's ru_maxrss.
_LAUNCH = """
import json, resource, subprocess, sys
done = subprocess.run([sys.executable, "-c", sys.argv[1], sys.argv[2]], capture_output=True,
                      text=True, check=True)
result = json.loads(done.stdout)
result["maxrss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps(result, ensure_ascii=False))
"""


def probe(path: Path) -> dict:
    """read_ledger in a fresh interpreter: its errors, rows, peak memory (ru_maxrss, in MB)
    and wall time, interpreter start and imports included."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", _LAUNCH, _PROBE, str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(done.stdout)
    result["wall"] = time.monotonic() - started
    return result


def assert_refused(path: Path, *words: str) -> dict:
    result = probe(path)
    assert result["rows"] == 0
    assert len(result["errors"]) == 1, result["errors"]
    for word in words:
        assert word in result["errors"][0], result["errors"][0]
    assert result["maxrss_mb"] < MEMORY_MB, result
    assert result["wall"] < SECONDS, result
    return result


def test_one_far_cell_is_refused(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(HEADER)
    ws.append(["A1", "一号项目", "荷塘区"])
    ws["XFD1048576"] = "远处"
    wb.save(tmp_path / "far.xlsx")
    assert (tmp_path / "far.xlsx").stat().st_size < 10_000
    assert_refused(tmp_path / "far.xlsx", "XFD1048576", "10000 行", "200 列")


def test_far_cell_behind_a_small_dimension_is_refused(tmp_path: Path) -> None:
    # the <dimension> says A1:C2 but a cell lies far away: the scan reads the cells
    path = write_xlsx(tmp_path / "liar.xlsx", [HEADER, ["A1", "一号", "荷塘区"]],
                      dimension="A1:C2",
                      extra_cells='<row r="900000"><c r="B900000"><v>1</v></c></row>')
    assert_refused(path, "第900000行", "10000 行")


def test_far_dimension_is_refused(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "dim.xlsx", [HEADER, ["A1", "一号", "荷塘区"]],
                      dimension="A1:XFD1048576")
    assert_refused(path, "使用范围 A1:XFD1048576", "上限")


def test_sheet_wide_merge_is_refused(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "merge.xlsx", [HEADER, ["A1", "一号", "荷塘区"]],
                      merges=("A1:XFD1048576",))
    assert path.stat().st_size < 5_000
    assert_refused(path, "合并单元格 A1:XFD1048576", "取消大范围合并")


def test_too_many_merges_are_refused(tmp_path: Path) -> None:
    merges = tuple(f"D{r}:E{r}" for r in range(1, intake.MAX_MERGED + 2))
    path = write_xlsx(tmp_path / "merges.xlsx", [HEADER], merges=merges)
    assert_refused(path, f"合并单元格超过 {intake.MAX_MERGED} 处")


def test_sixty_thousand_rows_are_refused(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "rows.xlsx", [HEADER], row_count=60_000)
    result = assert_refused(path, "超过 10000 行的上限")
    assert "第10001行" in result["errors"][0]


def test_zip_of_a_gigabyte_of_zeros_is_refused(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "zeros.xlsx", [HEADER, ["A1", "一号", "荷塘区"]])
    chunk = bytes(1024 * 1024)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        with z.open("xl/media/image1.png", "w", force_zip64=True) as out:
            for _ in range(1024):
                out.write(chunk)
    assert path.stat().st_size < 10 * 1024 * 1024
    assert_refused(path, "xl/media/image1.png", "解压后 1024.0 MB", "64 MB 的上限")


def test_highly_compressed_member_is_refused(tmp_path: Path) -> None:
    # under the size cap, but zeros pack ~1000:1 where XML packs 5–20:1
    path = write_xlsx(tmp_path / "ratio.xlsx", [HEADER, ["A1", "一号", "荷塘区"]])
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/sharedStrings.xml", bytes(8 * 1024 * 1024))
    assert_refused(path, "xl/sharedStrings.xml", "压缩比异常", "上限 100:1")


def test_too_many_zip_members_are_refused(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "members.xlsx", [HEADER])
    with zipfile.ZipFile(path, "a") as z:
        for n in range(intake.MAX_MEMBERS):
            z.writestr(f"xl/media/{n}.bin", b"")
    assert_refused(path, "部件过多", f"上限 {intake.MAX_MEMBERS}")


def test_big_file_is_refused_by_size_before_opening(tmp_path: Path) -> None:
    path = tmp_path / "big.xlsx"
    with path.open("wb") as out:
        out.truncate(intake.MAX_FILE_BYTES + 1)  # not even a zip: the size decides first
    (error,) = read_ledger(path).errors
    assert error.row == 0 and "文件太大" in error.message and "上限 20 MB" in error.message


def test_csv_over_the_row_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        writer.writerows([f"X{n}", f"第{n}号项目", "荷塘区"] for n in range(60_000))
    result = assert_refused(path, "超过 10000 行的上限")
    assert result["errors"][0].startswith("rows.csv: ")


def test_csv_over_the_column_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(",".join(HEADER + [f"列{n}" for n in range(300)]) + "\n", encoding="utf-8")
    (error,) = read_ledger(path).errors
    assert "303 列，超过 200 列的上限" in error.message


def test_milestone_files_get_the_same_checks(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "m.xlsx", [["项目编号", "节点", "计划日期"]],
                      merges=("A1:XFD1048576",))
    (error,) = read_milestones(path).errors
    assert "合并单元格" in error.message


def test_limits_hold_at_the_edge(tmp_path: Path) -> None:
    # exactly MAX_ROWS rows and a merge ending on the last allowed column load fine
    path = write_xlsx(tmp_path / "edge.xlsx", [HEADER], row_count=intake.MAX_ROWS - 1,
                      merges=("F1:GR1",))
    ledger = read_ledger(path)
    assert ledger.errors == [] and len(ledger.rows) == intake.MAX_ROWS - 1


def test_merged_ranges_still_fill_in_read_only_mode(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "m.xlsx", [
        ["项目编号", "项目名称", "联系区领导"],
        ["A1", "一号项目", "韩立新"],
        ["A2", "二号项目", ""],
    ], merges=("C2:C3",))
    assert [r.district_leaders[0].name for r in read_ledger(path).rows] == ["韩立新", "韩立新"]


def test_examples_and_fixtures_read_as_before() -> None:
    for path in (EXAMPLES / "ledger.csv", FIXTURES / "ledger.csv",
                 FIXTURES / "annex2-leaders.xlsx"):
        ledger = read_ledger(path)
        assert ledger.errors == [] and len(ledger.rows) >= 5, path
    assert read_milestones(EXAMPLES / "milestones.csv").errors == []


@pytest.fixture
def big_ledger(tmp_path: Path) -> Path:
    """A realistic 3,000-project ledger: the sample ledger's columns and rows, repeated."""
    with (EXAMPLES / "ledger.csv").open(encoding="utf-8-sig") as src:
        header, *rows = list(csv.reader(src))
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("重点项目")
    ws.append(["2024年全区重点项目台账"])
    ws.append(header)
    code, name = header.index("项目编号"), header.index("项目名称")
    for n in range(3000):
        row = list(rows[n % len(rows)])
        row[code] = f"Q{n:04d}"
        row[name] = f"{row[name]}（{n // len(rows) + 1}期）"
        ws.append(row)
    wb.save(tmp_path / "big.xlsx")
    return tmp_path / "big.xlsx"


def test_three_thousand_project_ledger_reads_in_bounds(big_ledger: Path) -> None:
    result = probe(big_ledger)
    assert result["errors"] == [] and result["rows"] == 3000
    assert result["maxrss_mb"] < MEMORY_MB, result
    assert result["wall"] < SECONDS, result


def test_entity_expansion_bomb_is_refused(tmp_path: Path) -> None:
    # "billion laughs": nine levels of ten-fold entities in the sheet's DOCTYPE
    levels = ['<!ENTITY l0 "哈哈哈哈哈哈哈哈">'] + [
        f'<!ENTITY l{n} "{("&l" + str(n - 1) + ";") * 10}">' for n in range(1, 10)]
    path = write_xlsx(tmp_path / "laughs.xlsx", [HEADER, ["A1", "&l9;", "荷塘区"]])
    with zipfile.ZipFile(path) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    head, _, body = sheet.partition("?>")
    parts["xl/worksheets/sheet1.xml"] = (
        f'{head}?><!DOCTYPE worksheet [{"".join(levels)}]>{body}').encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    result = assert_refused(path, "工作表“台账”的内容无法解析")
    assert "amplification" in result["errors"][0]
