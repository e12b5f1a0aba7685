"""Reading ledgers and the `gongjian parse` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from nlp.registry import entries_from_ledger

LEDGER = Path(__file__).resolve().parent.parent / "fixtures" / "ledger.csv"
HEADER = "项目编号,项目名称,简称,业主联系人\n"
ROWS = 'A1,甲乙科技产业园,甲乙园,"张三、李四"\nA2,丙丁大桥,,"王五,赵六\n钱七"\n'


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_ledger_encodings_and_contact_lists(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "ledger.csv"
    path.write_bytes((HEADER + ROWS).encode(encoding))
    entries = entries_from_ledger(path)
    assert [(e.code, e.name, e.short_names, e.contacts) for e in entries] == [
        ("A1", "甲乙科技产业园", ("甲乙园",), ("张三", "李四")),
        ("A2", "丙丁大桥", (), ("王五", "赵六", "钱七")),
    ]


def test_fixture_ledger() -> None:
    entries = entries_from_ledger(LEDGER)
    assert len(entries) == 32
    p002 = next(e for e in entries if e.code == "P002")
    assert p002.contacts == ("陈晨", "王磊")


def test_cli_single_message(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["parse", "--ledger", str(LEDGER), "--sent", "2023-05-10", "--sender", "孙浩",
                 "三一产业基地今天主体封顶"])
    assert code == 0
    assert json.loads(capsys.readouterr().out) == {"updates": [{
        "project": "P004",
        "events": [{"milestone": "topped_out", "status": "done", "date": "2023-05-10"}],
        "progress_pct": None, "progress_part": None, "investment": [], "issues": []}]}


def test_cli_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "in.jsonl"
    lines = [
        {"id": "a", "sent": "2023-05-10", "sender": "", "text": "钢铁城本月完成投资2亿元"},
        {"id": "b", "sent": "2023-05-10", "sender": "高远", "text": "收到"},
    ]
    corpus.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n",
                      encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["parse", "--ledger", str(LEDGER), "--input", str(corpus),
                 "--output", str(out)]) == 0
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert rows[0]["id"] == "a"
    assert rows[0]["updates"][0]["investment"] == [{"scope": "month", "wan_yuan": 20000}]
    assert rows[1] == {"id": "b", "updates": []}
    assert "识别 2 条消息，1 条进度" in capsys.readouterr().err


def test_cli_missing_ledger(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", "--ledger", str(tmp_path / "nope.csv"), "收到"]) == 2
    assert capsys.readouterr().err.startswith("找不到台账文件 ")


def test_xlsx_ledger_through_the_storage_reader() -> None:
    pytest.importorskip("storage.ledger.reader")
    entries = entries_from_ledger(LEDGER.parent / "annex2-leaders.xlsx")
    by_name = {e.name: e for e in entries}
    assert by_name["长株潭先进硬质材料产业园项目"].contacts == ("陈晨", "王磊")
    assert all(e.code for e in entries)
