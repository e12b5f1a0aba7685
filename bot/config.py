"""Configuration: a TOML file validated by pydantic, with GONGJIAN_* environment overrides.

`load_settings` is the only entry point; nothing else reads the file or the environment.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

CONFIG_ENV = "GONGJIAN_CONFIG"
ENV_PREFIX = "GONGJIAN_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///gongjian.db"


class WebhookSettings(_Section):
    public_url: str | None = None  # https://example.org/telegram — what Telegram calls
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(8080, ge=1, le=65535)
    path: str = "/telegram"
    secret_token: SecretStr | None = None

    @field_validator("public_url")
    @classmethod
    def _https(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith("https://"):
            raise ValueError("须以 https:// 开头（Telegram 只调用 HTTPS 地址）")
        return url


def token_is_well_formed(token: str) -> bool:
    """Bot API token shape (digits, colon, secret), as aiogram checks it; checked here so
    configuration needs no aiogram import."""
    if any(c.isspace() for c in token):
        return False
    left, sep, right = token.partition(":")
    return bool(sep) and left.isdigit() and bool(right)


class TelegramSettings(_Section):
    token: SecretStr | None = None
    api_base_url: str = "https://api.telegram.org"
    mode: Literal["polling", "webhook"] = "polling"
    # http://host:port or socks5://user:pass@host:port, for offices that reach Telegram only so.
    proxy: str | None = None
    webhook: WebhookSettings = Field(default_factory=WebhookSettings, validate_default=True)

    @field_validator("token")
    @classmethod
    def _token_shape(cls, token: SecretStr | None) -> SecretStr | None:
        # Checked here so a malformed token stops start-up, never echoed.
        if token is not None and not token_is_well_formed(token.get_secret_value()):
            raise ValueError("格式不对（应为 123456:ABC… 的形式）")
        return token

    @field_validator("webhook")
    @classmethod
    def _webhook_needs_address(cls, hook: WebhookSettings, info: ValidationInfo) -> WebhookSettings:
        # Checked with the rest of the configuration, before any call to Telegram.
        if info.data.get("mode") == "webhook" and not hook.public_url:
            raise ValueError("webhook 模式须填写 public_url（Telegram 调用的公网 HTTPS 地址）")
        if info.data.get("mode") == "webhook" and hook.secret_token is None:
            raise ValueError("webhook 模式须设置 secret_token（Telegram 每次请求都带上它，"
                             "没有它任何人都能冒充用户向机器人发消息）")
        return hook

    @field_validator("proxy")
    @classmethod
    def _proxy_shape(cls, proxy: str | None) -> str | None:
        schemes = ("http://", "https://", "socks4://", "socks5://")
        if proxy is not None and not proxy.startswith(schemes):
            raise ValueError("应以 http://、https://、socks4:// 或 socks5:// 开头")
        return proxy


class DingTalkSettings(_Section):
    """An enterprise internal app's robot in Stream mode (a long connection out, no public
    address). Configured when client_id and client_secret are set."""

    client_id: str | None = None  # AppKey / Client ID
    client_secret: SecretStr | None = None  # AppSecret / Client Secret
    robot_code: str | None = None  # 机器人 RobotCode; defaults to client_id (the usual case)
    # Bind a user whose mobile matches the ledger's when the app may read mobiles
    # (通讯录 成员信息读权限 + 企业员工手机号信息).
    bind_by_mobile: bool = False
    api_base_url: str = "https://api.dingtalk.com"
    oapi_base_url: str = "https://oapi.dingtalk.com"

    @model_validator(mode="after")
    def _both_or_neither(self) -> DingTalkSettings:
        if bool(self.client_id) != bool(self.client_secret):
            raise ValueError("client_id（AppKey）与 client_secret（AppSecret）须同时填写")
        return self

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret)


class OrgSettings(_Section):
    top_leader: str | None = None  # 一把手, by ledger name
    administrators: list[str] = []  # by ledger name


class ScheduleSettings(_Section):
    timezone: str = "Asia/Shanghai"
    digest_time: dt.time = dt.time(8, 30)
    report_cycle: Literal["weekly", "monthly"] = "weekly"
    report_weekday: int = Field(5, ge=1, le=7)  # weekly: ISO weekday the report is due (5 = Friday)
    report_day_of_month: int = Field(2, ge=1, le=28)  # monthly: day the report is due
    report_time: dt.time = dt.time(17, 0)
    missing_report_grace_days: int = Field(2, ge=0)  # working days after the due day
    issue_deadline_days: int = Field(5, ge=1)  # working days to close a 交办件
    misfire_grace_seconds: int = Field(3600, ge=0)
    sweep_interval_minutes: int = Field(15, ge=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"未知时区 {value!r}（例：Asia/Shanghai）") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class EscalationSettings(_Section):
    yellow_days: int = Field(1, ge=1)
    orange_days: int = Field(8, ge=1)
    red_days: int = Field(16, ge=1)
    repeat_yellow_days: int = Field(3, ge=1)
    repeat_orange_days: int = Field(2, ge=1)
    repeat_red_days: int = Field(1, ge=1)
    quiet_start: dt.time = dt.time(21, 0)
    quiet_end: dt.time = dt.time(8, 0)
    quiet_on_non_working_days: bool = True


class CalendarSettings(_Section):
    holidays: list[dt.date] = []  # extra days off for years chinesecalendar does not cover
    workdays: list[dt.date] = []  # extra make-up working days (调休)


RobotKind = Literal["dingtalk", "wecom", "feishu"]
# What a group robot is sent: alerts by level, the due-day reminders, the daily digest, the
# monthly report.
RobotNotice = Literal["yellow", "orange", "red", "reminder", "digest", "report"]
ROBOT_KIND_LABELS = {"dingtalk": "钉钉", "wecom": "企业微信", "feishu": "飞书"}


def _webhook_problem(kind: str, url: str) -> str | None:
    """Why `url` is not a `kind` robot's webhook address (None: it looks like one)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "应为机器人的完整 webhook 地址（以 https:// 开头）"
    query = parse_qs(parts.query)
    if kind == "dingtalk" and not query.get("access_token"):
        return "钉钉机器人地址应含 access_token=…（群设置 → 智能群助手 → 机器人 → 复制 Webhook）"
    if kind == "wecom" and not query.get("key"):
        return "企业微信群机器人地址应含 key=…（群机器人 → 复制 Webhook 地址）"
    if kind == "feishu" and "/hook/" not in parts.path:
        return "飞书机器人地址应形如 …/open-apis/bot/v2/hook/…（自定义机器人 → 复制 webhook 地址）"
    return None


class RobotSettings(_Section):
    """An office group's robot (群机器人): outbound only, one webhook per group."""

    name: str = Field(min_length=1, max_length=64)  # shown in logs and check-robots
    kind: RobotKind
    webhook: SecretStr  # the full address; it holds the robot's token, so never echoed
    secret: SecretStr | None = None  # 加签 / 签名校验 secret (DingTalk SEC…, Feishu)
    notices: list[RobotNotice] = ["orange", "red", "digest"]
    departments: list[str] = []  # only projects these service departments serve; empty: all

    @model_validator(mode="after")
    def _consistent(self) -> RobotSettings:
        problems = []
        problem = _webhook_problem(self.kind, self.webhook.get_secret_value().strip())
        if problem:
            problems.append(f"webhook {problem}")
        secret = self.secret.get_secret_value().strip() if self.secret else None
        if self.kind == "wecom" and secret:
            problems.append(
                "secret 企业微信群机器人没有签名密钥（凭据是 webhook 里的 key），请删去")
        if self.kind == "dingtalk" and secret is not None and not secret.startswith("SEC"):
            problems.append("secret 钉钉加签密钥以 SEC 开头（安全设置 → 加签）")
        if self.kind in ("dingtalk", "feishu") and secret == "":
            problems.append("secret 不能为空字符串（不用签名就删去这一行）")
        if not self.notices:
            problems.append("notices 至少选一项：yellow、orange、red、reminder、digest、report")
        if problems:
            raise ValueError(f"机器人「{self.name}」：" + "；".join(problems))
        return self


class RankingSettings(_Section):
    """Weights of the four parts of a ranking score (龙虎榜); only their ratios matter."""

    investment: int = Field(40, ge=0)  # investment completion against 序时进度
    milestones: int = Field(30, ge=0)  # milestones met on time
    reports: int = Field(15, ge=0)  # progress reports on time
    issues: int = Field(15, ge=0)  # 交办件 closed by their deadline


class MonthlyReportSettings(_Section):
    day_of_month: int = Field(2, ge=1, le=28)  # the 月报 for last month goes out on this day
    time: dt.time = dt.time(9, 0)  # local time on that day
    group_by: Literal["department", "stage"] = "department"


class WebSettings(_Section):
    """The dashboard (一屏统览), served by the same program (web/)."""

    listen_host: str = "127.0.0.1"
    listen_port: int = Field(8081, ge=1, le=65535)
    # The address people open (behind a reverse proxy in production); links are made from it.
    public_url: str | None = None
    # Signs session cookies; unset: a random key per start (everyone signs in again after a
    # restart, and instances behind one address do not share sessions).
    secret_key: SecretStr | None = None
    session_days: int = Field(7, ge=1, le=90)

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("应以 http:// 或 https:// 开头")
        return value.rstrip("/") if value else value

    @property
    def base_url(self) -> str:
        """Where links point: public_url, else the listening address."""
        return self.public_url or f"http://{self.listen_host}:{self.listen_port}"


class OpsSettings(_Section):
    """Who is told when notices cannot get out: a platform failing for long, or a group
    robot refusing (one alert per incident, and a 恢复 notice when it clears)."""

    operators: list[str] = []  # by ledger name; reached on a channel that works if they can
    robots: list[str] = []  # names of [[robots]] that get the alert too (e.g. the IT group)
    alert_after_minutes: int = Field(60, ge=5)  # undelivered this long (quiet hours aside)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GONGJIAN_", env_nested_delimiter="__", extra="forbid"
    )

    database: DatabaseSettings = DatabaseSettings()
    telegram: TelegramSettings = TelegramSettings()
    dingtalk: DingTalkSettings = DingTalkSettings()
    org: OrgSettings = OrgSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    escalation: EscalationSettings = EscalationSettings()
    calendar: CalendarSettings = CalendarSettings()
    ranking: RankingSettings = RankingSettings()
    monthly_report: MonthlyReportSettings = MonthlyReportSettings()
    robots: list[RobotSettings] = []
    web: WebSettings = WebSettings()
    ops: OpsSettings = OpsSettings()

    @field_validator("robots")
    @classmethod
    def _unique_robot_names(cls, robots: list[RobotSettings]) -> list[RobotSettings]:
        seen: set[str] = set()
        for r in robots:
            if r.name in seen:
                raise ValueError(f"机器人名称「{r.name}」重复（每个 [[robots]] 的 name 须不同）")
            seen.add(r.name)
        return robots

    @model_validator(mode="after")
    def _ops_robots_configured(self) -> Settings:
        names = {r.name for r in self.robots}
        unknown = [n for n in self.ops.robots if n not in names]
        if unknown:
            raise ValueError("ops.robots 中的机器人未在 [[robots]] 中配置："
                             + "、".join(unknown))
        return self

    def robots_of(self, kind: str) -> list[RobotSettings]:
        return [r for r in self.robots if r.kind == kind]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init kwargs; the environment wins over them.
        return (env_settings, init_settings)


class ConfigError(Exception):
    """Configuration problems, one line each naming the key, all of them at once."""


# pydantic error type -> Chinese wording ({ctx} fields filled in from the error's context)
_MESSAGES = {
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "int_from_float": "应为整数",
    "bool_parsing": "应为 true 或 false",
    "bool_type": "应为 true 或 false",
    "string_type": "应为文字（用引号括起）",
    "list_type": "应为列表，例如 [\"张三\", \"李四\"]",
    "time_parsing": "应为时间，例如 08:30:00",
    "time_type": "应为时间，例如 08:30:00",
    "date_parsing": "应为日期，例如 2027-01-01",
    "date_from_datetime_parsing": "应为日期，例如 2027-01-01",
    "date_type": "应为日期，例如 2027-01-01",
    "greater_than_equal": "不能小于 {ge}",
    "less_than_equal": "不能大于 {le}",
    "greater_than": "应大于 {gt}",
    "less_than": "应小于 {lt}",
    "literal_error": "应为 {expected} 之一",
    "model_type": "应为一节（[节名] 下的键值）",
    "dict_type": "应为一节（[节名] 下的键值）",
    "missing": "缺少必填项",
}


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed beside the unknown one at `loc`."""
    model: Any = Settings
    for part in loc[:-1]:
        field = model.model_fields.get(str(part)) if hasattr(model, "model_fields") else None
        model = field.annotation if field is not None else None
    return list(getattr(model, "model_fields", {}))


def _describe_one(err: Any) -> str:
    loc = tuple(err["loc"])
    key = ""
    for p in loc:  # robots 第 2 项.notices 第 1 项
        key += f" 第 {p + 1} 项" if isinstance(p, int) else (f".{p}" if key else str(p))
    key = key or "(根)"
    kind = err["type"]
    ctx = {k: str(v).replace(" or ", "、").replace("', '", "'、'")
           for k, v in (err.get("ctx") or {}).items()}
    if kind == "extra_forbidden":
        msg = "未知配置项"
        close = difflib.get_close_matches(str(loc[-1]), _known_keys(loc), n=1, cutoff=0.6)
        if close:
            msg += f"，您是不是想写 {close[0]}？"
    elif kind == "value_error":
        msg = str(ctx.get("error") or err["msg"]).removeprefix("Value error, ")
    elif kind in _MESSAGES:
        try:
            msg = _MESSAGES[kind].format_map(ctx)
        except KeyError:  # a context field the wording expects is absent
            msg = err["msg"]
    else:
        msg = err["msg"]
    # A value from the environment says which variable, since the file does not have it.
    env = ENV_PREFIX + "__".join(str(p) for p in loc).upper()
    plain = loc and not any(isinstance(p, int) for p in loc)
    source = f"（环境变量 {env}）" if plain and env in os.environ else ""
    return f"配置错误 {key}{source}: {msg}"


def describe(exc: ValidationError) -> str:
    """Every problem, one line each (pydantic reports them all in one pass)."""
    return "\n".join(_describe_one(err) for err in exc.errors())


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Read the TOML file named by `path` or $GONGJIAN_CONFIG (defaults when neither is set)."""
    path = path or os.environ.get(CONFIG_ENV)
    data: dict[str, Any] = {}
    if path:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"配置错误: 找不到配置文件 {file}")
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"配置错误: {file} 不是合法的 TOML: {exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"配置错误: {file} 不是 UTF-8 编码（请另存为 UTF-8）") from None
    for key, value in overrides.items():
        data.setdefault(key, {}).update(value)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(describe(exc)) from None


def dashboard_url(settings: Settings) -> str | None:
    """The dashboard's public address (`[web] public_url`), or None when not configured: a
    link to the listening address would not open on a leader's phone."""
    return settings.web.public_url
