"""read_ledger: both layouts, cell parsing, and every problem reported with its place."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from openpyxl import Workbook

from storage.ledger.cells import (
    CellError,
    PersonRef,
    generated_code,
    parse_date,
    parse_decimal,
    parse_people,
    parse_period,
    parse_phones,
)
from storage.ledger.reader import read_ledger
from tests.conftest import FIXTURES

BAD = FIXTURES / "ledger_bad"
P = PersonRef


def test_annex_layout_rows() -> None:
    ledger = read_ledger(FIXTURES / "annex2-leaders.xlsx")
    assert ledger.errors == []
    assert [(r.sheet, r.row) for r in ledger.rows] == [("附件2", n) for n in range(4, 10)]
    first, second = ledger.rows[0], ledger.rows[1]
    assert first.code is None and first.key == generated_code("京港澳及沪昆高速扩容（东线）")
    assert first.name == "京港澳及沪昆高速扩容（东线）"
    assert first.city_leaders == [P("杨国栋")] and first.district_leaders == [P("韩立新")]
    assert first.contacts == [P("刘洋", "13800000101")]
    assert first.service == [P("石磊", "13800000901")]
    assert (first.period_start, first.period_end) == (dt.date(2021, 2, 1), dt.date(2027, 12, 31))
    assert second.owner == "株洲莞深产业发展有限公司、株洲金城投资控股集团"
    assert second.departments == ["区发展改革局", "区科工信局"]
    assert second.city_leaders == []
    assert second.contacts == [P("陈晨", "13800000102"), P("王磊", "13800000202")]
    assert second.service == [P("林晓", "13800000902"), P("马骏", "13800000903")]
    assert (second.total_investment, second.cumulative_investment,
            second.annual_plan_investment) == (Decimal(100), Decimal(17), Decimal(15))
    assert second.period_text == "2021.10-2026.10"
    assert second.period_end == dt.date(2026, 10, 31)
    tiedong = ledger.rows[4]
    assert tiedong.name == "铁东路（规划26路—新华路）和新塘西路（铁东路—JC20路）新建工程"
    assert tiedong.notes == "新增"
    assert ledger.rows[5].district_leaders == [P("许文涛"), P("孔德明")]
    assert ledger.rows[5].cumulative_investment == Decimal("0.2")


def test_own_layout_rows() -> None:
    ledger = read_ledger(FIXTURES / "ledger.csv")
    assert ledger.errors == []
    assert len(ledger.rows) == 32
    assert [r.code for r in ledger.rows[:3]] == ["P001", "P002", "P003"]
    p002 = ledger.rows[1]
    assert p002.short_names == ["硬质材料产业园"]
    assert p002.contacts == [P("陈晨", "13800000102"), P("王磊")]  # one phone for two names
    assert p002.city_leaders == []
    p003 = ledger.rows[2]
    assert p003.total_investment == Decimal("7.2") and p003.notes == "新增"
    assert p003.period_end == dt.date(2024, 3, 31)
    p032 = ledger.rows[31]
    assert (p032.code, p032.name, p032.district, p032.owner) == (
        "P032", "雪峰岭学校", "石峰区", "区教育局")
    assert p032.service == [P("周涛", "13800000932")]


def test_generated_code_is_stable_and_ignores_spacing() -> None:
    code = generated_code("铁东路（规划 26 路—新华路）")
    assert code == generated_code("铁东路（规划26路—新华路）")
    assert code == generated_code("铁东路(规划26路—新华路)")
    assert code.startswith("X") and len(code) == 7
    assert generated_code("另一个项目") != code


@pytest.mark.parametrize(
    ("cell", "people"),
    [
        ("张三、李四", [P("张三"), P("李四")]),
        ("张三，李四;王五／赵六", [P("张三"), P("李四"), P("王五"), P("赵六")]),
        ("张三 13800000000", [P("张三", "13800000000")]),
        ("张三：13800000000\n李四:0731-28888888", [P("张三", "13800000000"),
                                                  P("李四", "0731-28888888")]),
        ("王  磊 138 0000 0001", [P("王磊", "13800000001")]),
        ("张三 李四", [P("张三"), P("李四")]),
        ("韩立新（副区长）", [P("韩立新", None, "副区长")]),
        ("陈晨（13800000102）、王磊(13800000202)", [P("陈晨", "13800000102"),
                                                  P("王磊", "13800000202")]),
        ("张三 电话：13800000000", [P("张三", "13800000000")]),
        ("张三（手机 13800000000）", [P("张三", "13800000000")]),
        ("阿卜杜·热合曼 13800000000", [P("阿卜杜·热合曼", "13800000000")]),
        ("—", []),
    ],
)
def test_people_cells(cell: str, people: list[PersonRef]) -> None:
    assert parse_people(cell) == people


@pytest.mark.parametrize(
    ("cell", "message"),
    [("13800000000", "电话 13800000000 前没有姓名"), ("张三、张三", "姓名重复：张三"),
     ("张3", "无法识别的姓名：张3"), ("张三#", "无法识别的姓名：张三#")],
)
def test_bad_people_cells(cell: str, message: str) -> None:
    with pytest.raises(CellError, match=message):
        parse_people(cell)


def test_phone_cells_keep_places() -> None:
    assert parse_phones("13800000001、—、13800000003") == ["13800000001", None, "13800000003"]
    with pytest.raises(CellError, match="无法识别的电话：123"):
        parse_phones("123")


def test_numbers_dates_periods() -> None:
    assert parse_decimal("1,234.5亿元") == Decimal("1234.5")
    assert parse_decimal(0.1 + 0.2) == Decimal("0.3")
    assert parse_decimal(5000, scale=Decimal(10000)) == Decimal("0.5")
    assert parse_decimal("") is None and parse_decimal("—") is None
    for text in ("2023-06-30", "2023/6/30", "2023.6.30", "2023年6月30日", "20230630"):
        assert parse_date(text) == dt.date(2023, 6, 30)
    assert parse_date(45107) == dt.date(2023, 6, 30)  # an Excel serial
    assert parse_date(dt.datetime(2023, 6, 30)) == dt.date(2023, 6, 30)
    assert parse_period("2021年10月-2026年10月")[1:] == (
        dt.date(2021, 10, 1), dt.date(2026, 10, 31))
    assert parse_period("2021-2023")[1:] == (dt.date(2021, 1, 1), dt.date(2023, 12, 31))
    assert parse_period("2023.6～2024.8")[1:] == (dt.date(2023, 6, 1), dt.date(2024, 8, 31))
    with pytest.raises(CellError, match="建设期结束早于开始"):
        parse_period("2024.1-2023.1")


def _errors(path: Path) -> list[str]:
    return [str(e) for e in read_ledger(path).errors]


def test_bad_csv_reports_every_problem() -> None:
    assert _errors(BAD / "bad.csv") == [
        "bad.csv 第1行 负责人: 未知的列",
        "bad.csv 第2行 总投资(亿元): 不是数字：十亿",
        "bad.csv 第3行 建设期: 无法识别的建设期：2021.13-2026.10（应为 2021.10-2026.10）",
        "bad.csv 第4行 累计完成投资(亿元): 不能为负数：-1",
        "bad.csv 第4行 项目编号: 项目编号重复：P001（与第2行相同）",
        "bad.csv 第5行 项目名称: 缺少项目名称",
    ]


def test_bad_gbk_csv() -> None:
    assert _errors(BAD / "bad-gbk.csv") == [
        "bad-gbk.csv 第1行 负责人: 未知的列",
        "bad-gbk.csv 第2行 总投资(亿元): 不是数字：十亿",
        "bad-gbk.csv 第3行 建设期: 无法识别的建设期：2021.13-2026.10（应为 2021.10-2026.10）",
    ]


def test_good_gbk_csv() -> None:
    ledger = read_ledger(BAD / "good-gbk.csv")
    assert ledger.errors == []
    (row,) = ledger.rows
    assert (row.code, row.name, row.notes) == ("G01", "国标编码测试项目", "备注：GBK")
    assert row.contacts == [P("吕涛", "13800000109")]


def test_bad_annex_xlsx() -> None:
    assert _errors(BAD / "bad-annex.xlsx") == [
        "附件2 第3行 项目类别: 未知的列",
        "附件2 第4行 总投资: 不是数字：约184",
        "附件2 第5行 建设期: 无法识别的建设期：2021.10至今（应为 2021.10-2026.10）",
        "附件2 第6行 项目名称: 项目名称重复：测试高速扩容（与第4行相同）",
    ]


def test_bad_codes_xlsx() -> None:
    assert _errors(BAD / "bad-codes.xlsx") == [
        "台账 第2行 业主联系电话: 无法识别的电话：1380000010",
        "台账 第3行 项目编号: 项目编号重复：P001（与第2行相同）",
    ]


def test_file_level_problems(tmp_path: Path) -> None:
    assert _errors(tmp_path / "none.csv") == ["none.csv: 找不到文件"]
    (tmp_path / "a.xls").write_bytes(b"x")
    assert _errors(tmp_path / "a.xls") == ["a.xls: 不支持旧的 .xls 格式，请另存为 .xlsx"]
    (tmp_path / "empty.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    assert _errors(tmp_path / "empty.csv") == ["empty.csv: 找不到表头（需要“项目名称”等列）"]


def test_csv_without_bom_and_wan_yuan_columns(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    path.write_text("项目编号,项目名称,总投资（万元）,联系区领导\nA1,万元项目,50000,韩立新\n",
                    encoding="utf-8")
    (row,) = read_ledger(path).rows
    assert row.total_investment == Decimal(5)


def test_vertically_merged_leader_cells(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["项目编号", "项目名称", "联系市领导"])
    ws.append(["A1", "一号项目", "杨国栋"])
    ws.append(["A2", "二号项目", None])
    ws.merge_cells("C2:C3")
    wb.save(tmp_path / "m.xlsx")
    rows = read_ledger(tmp_path / "m.xlsx").rows
    assert [r.city_leaders for r in rows] == [[P("杨国栋")], [P("杨国栋")]]


def test_two_row_header_under_a_merged_group(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["序号", "项目名称", "投资（万元）", None, None, "联系区领导"])
    ws.append([None, None, "总投资", "累计完成投资", "年度计划投资", None])
    ws.append([1, "一号项目", 150000, 20000, 5000, "韩立新"])
    for cells in ("A1:A2", "B1:B2", "C1:E1", "F1:F2"):
        ws.merge_cells(cells)
    wb.save(tmp_path / "two.xlsx")
    ledger = read_ledger(tmp_path / "two.xlsx")
    assert ledger.errors == []
    (row,) = ledger.rows
    assert row.row == 3 and row.district_leaders == [P("韩立新")]
    assert (row.total_investment, row.cumulative_investment, row.annual_plan_investment) == (
        Decimal(15), Decimal(2), Decimal("0.5"))


def test_one_phone_per_person_across_the_file(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("项目编号,项目名称,业主联系人\nA1,一号,刘洋 13800000101\n"
                    "A2,二号,刘洋 13800000999\n", encoding="utf-8")
    assert _errors(path) == [
        "p.csv 第3行 联系电话: 刘洋 的电话 13800000999 与第2行的 13800000101 不一致"]


def test_annex_layout_as_gbk_csv(tmp_path: Path) -> None:
    """The annex saved by Excel as a plain (GBK) CSV, title rows and all, reads the same."""
    wb = openpyxl.load_workbook(FIXTURES / "annex2-leaders.xlsx")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for values in wb.active.iter_rows(values_only=True):  # type: ignore[union-attr]
        writer.writerow(["" if v is None else v for v in values])
    path = tmp_path / "annex.csv"
    path.write_bytes(buffer.getvalue().encode("gbk"))
    from_csv, from_xlsx = read_ledger(path), read_ledger(FIXTURES / "annex2-leaders.xlsx")
    assert from_csv.errors == []
    assert [dataclasses.replace(r, sheet="") for r in from_csv.rows] == [
        dataclasses.replace(r, sheet="") for r in from_xlsx.rows]


def test_section_total_and_note_rows_are_skipped(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["序号", "项目名称", "总投资", "联系区领导"])
    ws.append(["一、产业项目（1个）"])
    ws.merge_cells("A2:D2")
    ws.append([1, "一号项目", 10, "韩立新"])
    ws.append(["二、基础设施项目"])
    ws.append([2, "二号项目", 5, None])
    ws.append(["合计", None, 15, None])
    ws.append(["注：总投资单位为亿元。"])
    wb.save(tmp_path / "s.xlsx")
    ledger = read_ledger(tmp_path / "s.xlsx")
    assert ledger.errors == []
    assert [(r.row, r.name, r.total_investment) for r in ledger.rows] == [
        (3, "一号项目", Decimal(10)), (5, "二号项目", Decimal(5))]


def test_repeated_column(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("项目编号,项目名称,总投资,总投资（亿元）\nA1,一号,1,2\n", encoding="utf-8")
    assert _errors(path) == ["r.csv 第1行 总投资（亿元）: 与第3列（总投资）重复"]
