"""Building the aiogram Bot for a configured Bot API server (public, or the local fake)."""

from __future__ import annotations

import asyncio
import json
import logging
from contextvars import ContextVar
from typing import Any

from aiogram import Bot, methods
from aiogram.client.default import Default, DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiohttp import BytesPayload, FormData
from pydantic import BaseModel

from bot.config import TelegramSettings

PUBLIC_API = "https://api.telegram.org"
log = logging.getLogger(__name__)

# aiogram builds Response[T] per call and pydantic caches generic models only weakly: held
# here, the models of the calls on the hot path are built once, not again after a collection.
_RESPONSE_MODELS = tuple(
    Response[m.__returning__]  # type: ignore[name-defined]
    for m in (methods.SendMessage, methods.EditMessageText, methods.EditMessageReplyMarkup,
              methods.AnswerCallbackQuery, methods.GetUpdates, methods.SendDocument,
              methods.DeleteWebhook, methods.SetMyCommands, methods.GetMe)
)


# False inside update handlers (bot.middlewares): a 429 is raised at once instead of slept
# through; the scheduler's deliveries keep waiting.
wait_on_429: ContextVar[bool] = ContextVar("gongjian_wait_on_429", default=True)


class RetryMiddleware(BaseRequestMiddleware):
    """Retries a Bot API call on 429 (waiting retry_after) and on network or 5xx errors
    (exponential backoff). Errors that retrying cannot fix (400, 403) pass straight through."""

    def __init__(self, attempts: int = 4, base_delay: float = 0.5, max_delay: float = 30.0):
        self.attempts, self.base_delay, self.max_delay = attempts, base_delay, max_delay

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if isinstance(method, GetUpdates):  # the polling loop has its own backoff
            return await make_request(bot, method)
        delay = self.base_delay
        for attempt in range(1, self.attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if attempt == self.attempts or not wait_on_429.get():
                    raise
                wait = min(float(exc.retry_after), self.max_delay)
                log.warning("%s：被限流（429），%.1f 秒后重试", method.__api_method__, wait)
                await asyncio.sleep(wait)
            except (TelegramNetworkError, TelegramServerError) as exc:
                if attempt == self.attempts:
                    raise
                log.warning("%s 失败（%s），%.1f 秒后重试",
                            method.__api_method__, type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_delay)
        raise AssertionError("unreachable")


class JsonMethod:
    """A Bot API method (mixed into a TelegramMethod, no files) sent as one JSON body: the
    Bot API takes application/json as well as forms. aiohttp's form encoding
    percent-encodes every byte of a text in Python (~0.3 ms for a report's summary on the
    bench machine, most of sending it); json.dumps is C."""


def _plain(value: Any, bot: Bot) -> Any:
    """A parameter as JSON takes it, as aiogram's form would carry it: Nones left out,
    bot defaults resolved (nested ones too), models as objects."""
    if isinstance(value, Default):
        value = bot.default[value.name]
    if isinstance(value, BaseModel):
        value = value.model_dump(warnings=False, exclude_none=True)
    if isinstance(value, dict):
        return {k: v for k, item in value.items() if (v := _plain(item, bot)) is not None}
    if isinstance(value, list):
        return [_plain(item, bot) for item in value]
    return value


class Session(AiohttpSession):
    """aiogram's aiohttp session; a JsonMethod goes as JSON."""

    def build_form_data(self, bot: Bot, method: TelegramMethod[TelegramType]) -> FormData:
        if not isinstance(method, JsonMethod):
            return super().build_form_data(bot, method)
        body = _plain(method.model_dump(warnings=False, exclude_none=True), bot)
        data = json.dumps(body, ensure_ascii=False).encode()
        # (aiogram posts what this returns as the request body; a payload is one.)
        return BytesPayload(data, content_type="application/json")  # type: ignore[return-value]


def make_bot(telegram: TelegramSettings, **session_kwargs: Any) -> Bot:
    if telegram.token is None:
        raise ValueError("telegram.token is not set")
    base = telegram.api_base_url.rstrip("/")
    if base != PUBLIC_API:
        session_kwargs["api"] = TelegramAPIServer.from_base(base)
    if telegram.proxy:
        session_kwargs.setdefault("proxy", telegram.proxy)  # through aiohttp-socks
    session = Session(**session_kwargs)
    session.middleware(RetryMiddleware())
    return Bot(
        token=telegram.token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )
