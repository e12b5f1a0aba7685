"""Configuration: a TOML file validated by pydantic, with GONGJIAN_* environment overrides.

`load_settings` is the only entry point; nothing else reads the file or the environment.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiogram.utils.token import TokenValidationError, validate_token
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

CONFIG_ENV = "GONGJIAN_CONFIG"


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


class TelegramSettings(_Section):
    token: SecretStr | None = None
    api_base_url: str = "https://api.telegram.org"
    mode: Literal["polling", "webhook"] = "polling"
    webhook: WebhookSettings = WebhookSettings()

    @field_validator("token")
    @classmethod
    def _token_shape(cls, token: SecretStr | None) -> SecretStr | None:
        # Checked here so a malformed token stops start-up with one line, never echoed.
        if token is not None:
            try:
                validate_token(token.get_secret_value())
            except TokenValidationError:
                raise ValueError("invalid format (expected 123456:ABC…)") from None
        return token


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
            raise ValueError(f"unknown time zone {value!r}") from exc
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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GONGJIAN_", env_nested_delimiter="__", extra="forbid"
    )

    database: DatabaseSettings = DatabaseSettings()
    telegram: TelegramSettings = TelegramSettings()
    org: OrgSettings = OrgSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    escalation: EscalationSettings = EscalationSettings()
    calendar: CalendarSettings = CalendarSettings()

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
    """A configuration problem, worded as one line naming the key."""


def _describe(exc: ValidationError) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "(root)"
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    return f"配置错误 {key}: {msg}"


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
        raise ConfigError(_describe(exc)) from None
