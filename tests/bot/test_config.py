"""Configuration: defaults, the TOML file, environment overrides, one-line errors, the example."""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from bot.cli import main
from bot.config import ConfigError, RobotSettings, Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config.example.toml"
SECRET = "123456:SECRET-token-value"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("GONGJIAN_"):
            monkeypatch.delenv(key)


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    return str(info.value)


def test_defaults() -> None:
    s = load_settings()
    assert s.database.url == "sqlite+aiosqlite:///gongjian.db"
    assert s.telegram.token is None and s.telegram.mode == "polling"
    assert s.schedule.timezone == "Asia/Shanghai" and str(s.schedule.tz) == "Asia/Shanghai"
    assert s.schedule.digest_time == dt.time(8, 30) and s.schedule.report_weekday == 5
    assert (s.escalation.yellow_days, s.escalation.orange_days, s.escalation.red_days) == (1, 8, 16)
    assert s.org.administrators == [] and s.calendar.holidays == []


def test_toml_file(tmp_path: Path) -> None:
    path = _file(tmp_path, (
        '[database]\nurl = "postgresql+asyncpg://db/gongjian"\n'
        '[org]\ntop_leader = "杨国栋"\nadministrators = ["林晓"]\n'
        '[schedule]\ntimezone = "Asia/Urumqi"\nreport_cycle = "monthly"\ndigest_time = 07:45:00\n'
        '[calendar]\nholidays = [2031-01-01]\n'
    ))
    s = load_settings(path)
    assert s.database.url == "postgresql+asyncpg://db/gongjian"
    assert (s.org.top_leader, s.org.administrators) == ("杨国栋", ["林晓"])
    assert s.schedule.timezone == "Asia/Urumqi" and s.schedule.report_cycle == "monthly"
    assert s.schedule.digest_time == dt.time(7, 45)
    assert s.calendar.holidays == [dt.date(2031, 1, 1)]
    assert s.escalation == Settings().escalation


def test_config_env_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GONGJIAN_CONFIG", str(_file(tmp_path, "[schedule]\nreport_weekday = 1\n")))
    assert load_settings().schedule.report_weekday == 1


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _file(tmp_path, '[telegram]\ntoken = "from-file"\nmode = "webhook"\n'
                           '[telegram.webhook]\npublic_url = "https://example.org/tg"\n'
                           'secret_token = "hook-secret"\n'
                           '[database]\nurl = "sqlite+aiosqlite:///file.db"\n')
    monkeypatch.setenv("GONGJIAN_TELEGRAM__TOKEN", SECRET)
    monkeypatch.setenv("GONGJIAN_DATABASE__URL", "sqlite+aiosqlite:///env.db")
    s = load_settings(path)
    assert s.telegram.token is not None and s.telegram.token.get_secret_value() == SECRET
    assert s.telegram.mode == "webhook"  # the rest of the section still comes from the file
    assert s.database.url == "sqlite+aiosqlite:///env.db"
    assert SECRET not in repr(s) and SECRET not in str(s)
    assert SECRET not in repr(s.telegram) and SECRET not in s.model_dump_json()


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('[telegram]\ntokn = "x"\n', "配置错误 telegram.tokn: 未知配置项，您是不是想写 token？"),
        ('[databse]\nurl = "x"\n', "配置错误 databse: 未知配置项，您是不是想写 database？"),
        ('[org]\nzzz = 1\n', "配置错误 org.zzz: 未知配置项"),
        ('[schedule]\nreport_weekday = "friday"\n', "配置错误 schedule.report_weekday: 应为整数"),
        ("[escalation]\nyellow_days = 0\n", "配置错误 escalation.yellow_days: 不能小于 1"),
        ('[telegram.webhook]\nlisten_port = "abc"\n',
         "配置错误 telegram.webhook.listen_port: 应为整数"),
        ('[schedule]\ntimezone = "Mars/Olympus"\n',
         "配置错误 schedule.timezone: 未知时区 'Mars/Olympus'（例：Asia/Shanghai）"),
        ('[calendar]\nholidays = ["abc"]\n',
         "配置错误 calendar.holidays 第 1 项: 应为日期，例如 2027-01-01"),
        ('[telegram]\nproxy = "10.0.0.1:3128"\n',
         "配置错误 telegram.proxy: 应以 http://、https://、socks4:// 或 socks5:// 开头"),
    ],
)
def test_errors_are_chinese_naming_the_key(tmp_path: Path, text: str, line: str) -> None:
    token = f'[telegram]\ntoken = "{SECRET}"\n'
    path = _file(tmp_path, text.replace("[telegram]\n", token) if "[telegram]\n" in text
                 else token + text)
    message = _error(path)
    assert message == line
    assert "\n" not in message and SECRET not in message


def test_every_error_at_once(tmp_path: Path) -> None:
    path = _file(tmp_path, (
        f'[telegram]\ntoken = "{SECRET}"\nmode = "pigeon"\nprox = "http://p:1"\n'
        '[schedule]\ndigest_time = "8点"\n[escalation]\nquiet_startt = 08:00:00\n'
    ))
    lines = _error(path).splitlines()
    assert sorted(lines) == sorted([
        "配置错误 telegram.mode: 应为 'polling'、'webhook' 之一",
        "配置错误 telegram.prox: 未知配置项，您是不是想写 proxy？",
        "配置错误 schedule.digest_time: 应为时间，例如 08:30:00",
        "配置错误 escalation.quiet_startt: 未知配置项，您是不是想写 quiet_start？",
    ])


def test_missing_and_broken_files(tmp_path: Path) -> None:
    assert _error(tmp_path / "nope.toml") == f"配置错误: 找不到配置文件 {tmp_path / 'nope.toml'}"
    broken = _file(tmp_path, f'[telegram]\ntoken = "{SECRET}\n')
    message = _error(broken)
    assert message.startswith(f"配置错误: {broken} 不是合法的 TOML")
    assert "\n" not in message and SECRET not in message


def test_wrong_token_type_does_not_echo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GONGJIAN_TELEGRAM__MODE", "carrier-pigeon")
    monkeypatch.setenv("GONGJIAN_TELEGRAM__TOKEN", SECRET)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value) == ("配置错误 telegram.mode（环境变量 GONGJIAN_TELEGRAM__MODE）: "
                               "应为 'polling'、'webhook' 之一")
    assert SECRET not in str(info.value)


def test_cli_prints_the_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path, "[schedule]\nreport_cycle = 3\n")
    assert main(["--config", str(path), "init"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("配置错误 schedule.report_cycle:") and err.count("\n") == 1


def test_example_file_loads_to_the_defaults() -> None:
    assert load_settings(EXAMPLE) == Settings()


def _keys(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str]]:
    """(section, key) of every setting."""
    keys = []
    for name, info in model.model_fields.items():
        kind = info.annotation
        if name == "robots":  # [[robots]] tables: test_example_file_documents_robot_tables
            continue
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            keys += _keys(kind, f"{prefix}{name}.")
        else:
            keys.append((prefix.rstrip("."), name))
    return keys


def test_example_file_documents_every_setting() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    sections = re.split(r"^\[([\w.]+)\]$", text, flags=re.M)
    body = dict(zip(sections[1::2], sections[2::2], strict=True))
    keys = _keys(Settings)
    assert len(keys) > 30
    setting = re.compile(r"^(# )?\w+ = ")
    for section, key in keys:
        assert section in body, section
        lines = body[section].splitlines()
        found = [i for i, line in enumerate(lines) if re.match(rf"^(# )?{key} = ", line)]
        assert found, f"{section}.{key} is missing from config.example.toml"
        i = found[0] - 1
        while i >= 0 and setting.match(lines[i]):  # a group of settings under one comment
            i -= 1
        assert i >= 0 and lines[i].startswith("# "), f"{section}.{key} has no comment"
    assert re.search(r"^# token = ", body["telegram"], re.M)  # commented out


def test_example_file_documents_robot_tables() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    block = text.split("# [[robots]]\n", 1)[1].splitlines()
    for key in RobotSettings.model_fields:
        found = [i for i, line in enumerate(block) if line.startswith(f"# {key} = ")]
        assert found, f"robots.{key} is missing from config.example.toml"
        assert block[found[0] - 1].startswith("# ") and " = " not in block[found[0] - 1]
    # the commented example, uncommented, is a valid robot
    example = "\n".join(line.removeprefix("# ") for line in block if " = " in line)
    data = tomllib.loads(example.replace("…", "x"))
    assert RobotSettings(**data).kind == "dingtalk"


def test_file_not_in_utf8(tmp_path: Path) -> None:
    path = tmp_path / "gbk.toml"
    path.write_bytes('[org]\ntop_leader = "杨国栋"\n'.encode("gbk"))
    assert _error(path) == f"配置错误: {path} 不是 UTF-8 编码（请另存为 UTF-8）"


@pytest.mark.parametrize("token", ["SECRET LEAK", "no-colon-secret", "12ab:SECRET"])
def test_malformed_token_is_one_line_without_the_token(
    monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    monkeypatch.setenv("GONGJIAN_TELEGRAM__TOKEN", token)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value) == (
        "配置错误 telegram.token（环境变量 GONGJIAN_TELEGRAM__TOKEN）: "
        "格式不对（应为 123456:ABC… 的形式）")
    assert "SECRET" not in str(info.value) and "secret" not in str(info.value)


def test_robot_tables_errors_one_line_each_in_chinese(tmp_path: Path) -> None:
    path = tmp_path / "robots.toml"
    path.write_text("""
[[robots]]
name = "调度群"
kind = "dingtalk"
webhook = "https://oapi.dingtalk.com/robot/send?token=abc"
secret = "abc"
[[robots]]
name = "企微群"
kind = "wecom"
webhook = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k1"
secret = "x"
notices = ["red", "blue"]
[[robots]]
name = "飞书群"
kind = "lark"
webhook = "https://open.feishu.cn/open-apis/bot/v2/hook/abc"
""", encoding="utf-8")
    lines = _error(path).splitlines()
    assert lines == [
        "配置错误 robots 第 1 项: 机器人「调度群」：webhook 钉钉机器人地址应含 access_token=…"
        "（群设置 → 智能群助手 → 机器人 → 复制 Webhook）；secret 钉钉加签密钥以 SEC 开头"
        "（安全设置 → 加签）",
        "配置错误 robots 第 2 项.notices 第 2 项: "
        "应为 'yellow'、'orange'、'red'、'reminder'、'digest'、'report' 之一",
        "配置错误 robots 第 3 项.kind: 应为 'dingtalk'、'wecom'、'feishu' 之一",
    ]
    assert "abc" not in "".join(lines[1:])  # the webhook token is never echoed


def test_robot_names_unique_and_webhook_secret(tmp_path: Path) -> None:
    path = tmp_path / "robots.toml"
    table = """
[[robots]]
name = "调度群"
kind = "feishu"
webhook = "https://open.feishu.cn/open-apis/bot/v2/hook/abc"
secret = "s3cr3t"
departments = ["区发改局"]
"""
    path.write_text(table, encoding="utf-8")
    robot = load_settings(path).robots[0]
    assert (robot.kind, robot.notices, robot.departments) == (
        "feishu", ["orange", "red", "digest"], ["区发改局"])
    assert "s3cr3t" not in repr(robot) and "abc" not in repr(robot)
    path.write_text(table * 2, encoding="utf-8")
    assert _error(path) == ("配置错误 robots: 机器人名称「调度群」重复"
                            "（每个 [[robots]] 的 name 须不同）")


@pytest.mark.parametrize(("text", "line"), [
    ('[telegram]\nmode = "webhook"\n',
     "配置错误 telegram.webhook: webhook 模式须填写 public_url（Telegram 调用的公网 HTTPS 地址）"),
    ('[telegram]\nmode = "webhook"\n[telegram.webhook]\npublic_url = "https://example.org/tg"\n',
     "配置错误 telegram.webhook: webhook 模式须设置 secret_token（Telegram 每次请求都带上它，"
     "没有它任何人都能冒充用户向机器人发消息）"),
    ('[telegram.webhook]\npublic_url = "http://example.org/tg"\n',
     "配置错误 telegram.webhook.public_url: 须以 https:// 开头（Telegram 只调用 HTTPS 地址）"),
])
def test_webhook_address_is_checked_with_the_configuration(
    tmp_path: Path, text: str, line: str
) -> None:
    assert _error(_file(tmp_path, text)) == line
