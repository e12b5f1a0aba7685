"""`gongjian invite --all / --role`: one sheet of invite links and codes for the ledger."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
from pathlib import Path

import pytest

from bot.cli import main
from bot.services.onboarding import redeem_invite
from storage.db import make_engine, make_sessionmaker
from storage.ledger.tables import read_table
from tests.outbox_support import bind
from tests.seed import person_named, seed_sample_ledger


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'inv.db'}"
    for key in ("GONGJIAN_CONFIG", "GONGJIAN_TELEGRAM__TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("GONGJIAN_DATABASE__URL", url)
    monkeypatch.setenv("GONGJIAN_ORG__TOP_LEADER", "杨国栋")

    async def seed() -> None:
        engine = make_engine(url)
        from storage.schema import upgrade

        await upgrade(engine)
        async with make_sessionmaker(engine)() as session:
            await seed_sample_ledger(session)
            sun = await person_named(session, "孙浩")
            await bind(session, sun, 4242)  # already bound
            await session.commit()
        await engine.dispose()

    asyncio.run(seed())
    return url


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def test_invite_all_writes_one_sheet_whose_codes_work(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "邀请.csv"
    assert main(["invite", "--all", "--out", str(out)]) == 0
    assert "已为 47 人生成邀请（另有 1 人已开通）" in capsys.readouterr().out
    rows = _rows(out)
    assert len(rows) == 48 and len({r["邀请码"] for r in rows if r["邀请码"]}) == 47
    by_name = {r["姓名"]: r for r in rows}
    assert by_name["孙浩"]["状态"] == "已开通" and by_name["孙浩"]["邀请链接"] == ""
    yang = by_name["杨国栋"]
    assert yang["角色"].startswith("一把手、联系市领导") and "清水塘大桥" in yang["项目"]
    assert yang["邀请链接"] == f"https://t.me/<机器人用户名>?start={yang['邀请码']}"
    assert by_name["刘洋"]["电话"] == "13800000101" and by_name["刘洋"]["角色"] == "业主联系人"

    async def redeem(code: str) -> str | None:
        engine = make_engine(db)
        async with make_sessionmaker(engine)() as session:
            person = await redeem_invite(session, code, 777, 777, dt.datetime.now(dt.UTC))
            await session.commit()
        await engine.dispose()
        return person.name if person else None

    assert asyncio.run(redeem(by_name["刘洋"]["邀请码"])) == "刘洋"


def test_invite_by_role_as_xlsx(db: str, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "区领导.xlsx"
    assert main(["invite", "--role", "区领导", "--out", str(out)]) == 0
    [sheet] = read_table(out).sheets
    assert sheet.rows[0][:3] == ["姓名", "角色", "项目"]
    names = {r[0] for r in sheet.rows[1:]}
    assert names == {"韩立新", "许文涛", "沈梅", "孔德明", "曹雪松"}
    assert all(r[1].endswith("联系区领导") for r in sheet.rows[1:])


def test_invite_sheet_refusals(db: str, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["invite", "--role", "厨师"]) == 2
    assert "未知角色“厨师”" in capsys.readouterr().err
    assert main(["invite", "--all", "--out", str(tmp_path / "x.xls")]) == 2
    assert "请用 .xlsx 或 .csv" in capsys.readouterr().err
    assert main(["invite"]) == 2
    assert "--all" in capsys.readouterr().err
