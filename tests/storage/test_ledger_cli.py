"""`gongjian import / import-milestones / export` end to end through bot.cli.main."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.cli import main
from storage.ledger.reader import read_ledger
from tests.conftest import FIXTURES


@pytest.fixture
def db_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("GONGJIAN_DATABASE__URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.delenv("GONGJIAN_CONFIG", raising=False)
    return path


def _count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute(f"select count(*) from {table}").fetchone()[0])


def test_import_export_round_trip(db_file: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    annex = FIXTURES / "annex2-leaders.xlsx"
    assert main(["init"]) == 0
    capsys.readouterr()
    assert main(["import", str(annex), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "新增 6 个项目，更新 0，未变 0" in out and "（试运行，未写入）" in out
    assert "+ 人员 王磊" in out
    assert _count(db_file, "projects") == 0

    assert main(["import", str(annex)]) == 0
    assert "新增 6 个项目，更新 0，未变 0" in capsys.readouterr().out
    assert main(["import", str(annex)]) == 0
    assert "新增 0 个项目，更新 0，未变 6" in capsys.readouterr().out
    audits = _count(db_file, "audit_log")

    out_file = tmp_path / "out.xlsx"
    assert main(["export", str(out_file)]) == 0
    assert f"已导出 6 个项目到 {out_file}" in capsys.readouterr().out
    exported = read_ledger(out_file)
    assert exported.errors == [] and len(exported.rows) == 6
    assert main(["import", str(out_file)]) == 0
    assert "未变 6" in capsys.readouterr().out
    assert _count(db_file, "audit_log") == audits


@pytest.mark.parametrize("argv", [["import", "--dry-run", str(FIXTURES / "ledger.csv")],
                                  ["export", "out.xlsx"]])
def test_read_only_commands_create_no_database(
    db_file: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A dry run or an export against a mistyped database path must not create one."""
    assert main(argv) == 1
    assert capsys.readouterr().err.strip() == (
        f"数据库不存在：{db_file}（先运行 gongjian init 或导入台账）")
    assert not db_file.exists()
    db_file.touch()  # an empty file is not a gongjian database either
    assert main(argv) == 1
    assert "请先运行 gongjian init" in capsys.readouterr().err


def test_rejected_file(db_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", str(FIXTURES / "ledger_bad" / "bad-codes.xlsx")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "台账 第2行 业主联系电话: 无法识别的电话：1380000010",
        "台账 第3行 项目编号: 项目编号重复：P001（与第2行相同）",
        "文件有 2 个问题，未导入任何内容。",
    ]
    assert not db_file.exists() or _count(db_file, "projects") == 0


def test_dry_run_shows_field_changes(db_file: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    ledger = FIXTURES / "ledger.csv"
    assert main(["import", str(ledger)]) == 0
    edited = tmp_path / "edited.csv"
    edited.write_text(ledger.read_text(encoding="utf-8").replace(",184,16.6,", ",190,16.6,"),
                      encoding="utf-8")
    capsys.readouterr()
    assert main(["import", str(edited), "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["~ P001 京港澳及沪昆高速扩容（东线）", "    总投资(亿元): 184 → 190"]
    assert ("新增 0 个项目，更新 1，未变 31，撤出 0，恢复 0；新增人员 0，更新人员 0；新增部门 0"
            in out)


def test_import_milestones(db_file: Path, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", str(FIXTURES / "ledger.csv")]) == 0
    path = tmp_path / "m.csv"
    path.write_text("项目编号,节点,计划日期\nP001,开工,2023-06-30\n", encoding="utf-8")
    assert main(["import-milestones", str(path), "--dry-run"]) == 0
    assert "+ P001 开工: （空） → 2023-06-30" in capsys.readouterr().out
    assert _count(db_file, "milestones") == 0
    assert main(["import-milestones", str(path)]) == 0
    assert "新增节点 1 个，更新 0，未变 0" in capsys.readouterr().out
    assert _count(db_file, "milestones") == 1
    path.write_text("项目编号,节点,计划日期\nP404,开工,2023-06-30\n", encoding="utf-8")
    assert main(["import-milestones", str(path)]) == 1
    assert capsys.readouterr().err.splitlines()[0] == "m.csv 第2行 项目编号: 台账中没有项目 P404"


def test_export_to_a_missing_folder(db_file: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init"]) == 0
    capsys.readouterr()
    assert main(["export", str(tmp_path / "no" / "out.xlsx")]) == 1
    assert capsys.readouterr().err.startswith("无法写入文件：")
    assert not (tmp_path / "no").exists()


def test_export_csv_is_csv(db_file: Path, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", str(FIXTURES / "ledger.csv")]) == 0
    out_file = tmp_path / "台账.csv"
    assert main(["export", str(out_file)]) == 0
    assert f"已导出 32 个项目到 {out_file}" in capsys.readouterr().out
    data = out_file.read_bytes()
    assert not data.startswith(b"PK")  # not a zip (XLSX) under a .csv name
    assert data.startswith("\ufeff项目编号,项目名称".encode())  # BOM: Excel reads it as UTF-8
    exported = read_ledger(out_file)
    assert exported.errors == [] and len(exported.rows) == 32
    assert main(["import", str(out_file)]) == 0
    assert "未变 32" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["out.xls", "out.txt", "out"])
def test_export_refuses_other_formats(db_file: Path, tmp_path: Path, name: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", str(FIXTURES / "ledger.csv")]) == 0
    capsys.readouterr()
    assert main(["export", str(tmp_path / name)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("未导出：") and "请用 .xlsx 或 .csv" in err
    assert not (tmp_path / name).exists()


def test_import_milestones_lists_every_problem_at_once(
    db_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", str(FIXTURES / "ledger.csv")]) == 0
    path = tmp_path / "m.csv"
    path.write_text("项目编号,节点,计划日期\nP001,开工,2023-13-01\nP404,开工,2023-06-30\n"
                    "P405,封顶了,2023-06-30\nP002,开工,2023-06-30\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["import-milestones", str(path)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "m.csv 第2行 计划日期: 无法识别的日期：2023-13-01（应为 2023-06-30）",
        "m.csv 第3行 项目编号: 台账中没有项目 P404",
        "m.csv 第4行 节点: 未知的节点：封顶了（可用：签约、土地摘牌、施工许可、开工、"
        "主体封顶、竣工、竣工验收、投产运营）",
        "m.csv 第4行 项目编号: 台账中没有项目 P405",
        "文件有 4 个问题，未导入任何内容。",
    ]
    assert _count(db_file, "milestones") == 0


def test_dry_run_shows_who_loses_what_and_the_run_audits_it(
    db_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    ledger = FIXTURES / "ledger.csv"
    assert main(["import", str(ledger)]) == 0
    lines = ledger.read_text(encoding="utf-8").splitlines(keepends=True)
    dropped = tmp_path / "dropped.csv"
    dropped.write_text("".join(ln.replace("陈晨、王磊,", "陈晨,") for ln in lines
                               if not ln.startswith("P004,")), encoding="utf-8")
    audits = _count(db_file, "audit_log")
    capsys.readouterr()
    assert main(["import", str(dropped), "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    withdrawn = ("- P004 三一集团产业基地：不在此文件中，撤出台账"
                 "（历史保留；之后的导入文件再列入即恢复）")
    losses = ["  - 王磊 不再担任 P002 长株潭先进硬质材料产业园项目 的业主联系人",
              "  - 孙浩 不再担任 P004 三一集团产业基地 的业主联系人（项目撤出台账）"]
    assert withdrawn in out and all(loss in out for loss in losses)
    assert out[-1] == "（试运行，未写入）"
    with sqlite3.connect(db_file) as conn:
        assert conn.execute("select count(*) from projects where withdrawn_at is not null"
                            ).fetchone()[0] == 0
    assert _count(db_file, "audit_log") == audits

    assert main(["import", str(dropped)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert withdrawn in out and all(loss in out for loss in losses)
    assert out[-1] == "已写入数据库"
    with sqlite3.connect(db_file) as conn:
        assert conn.execute("select code from projects where withdrawn_at is not null"
                            ).fetchall() == [("P004",)]
        actions = [a for (a,) in conn.execute("select action from audit_log")]
    assert "project.withdrawn" in actions and actions.count("project.updated") == 1
