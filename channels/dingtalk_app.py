"""DingTalk (钉钉) enterprise internal app robot: the outbound channel to people and the
groups the robot is in, and the OpenAPI client. (The office group robots with a webhook are
channels/dingtalk.py.)

A Notice becomes DingTalk markdown (`sampleMarkdown`): the title coloured by level, lines
joined with markdown line breaks, and every action as a reply the reader can send back —
a link the DingTalk client turns into that message when tapped
(dtmd://dingtalkclient/sendMessage) and, for pushes, the words to type («知悉 12»).
Replies inside a conversation number their actions (1 确认 · 2 修改 · 3 取消); the
conversation remembers what each number means (channels/dingtalk_chat.py).

Addresses: a user's staffId (userId) for one-to-one messages
(/v1.0/robot/oToMessages/batchSend), `group:<openConversationId>` for a group the robot is
in (/v1.0/robot/groupMessages/send). The access token (/v1.0/oauth2/accessToken) is cached
until five minutes before it expires and fetched again on 401.

Errors: 429 and 403 throttling codes (…QpsLimit…, …QpmLimit…) → RetryAfter; a user in
`invalidStaffIdList`, or staffId/conversation not found → Unreachable; a user in
`flowControlledStaffIdList` → RetryAfter(60); other 4xx → Failed with DingTalk's code and
message; 5xx, network faults and token failures → RetryAfter(0) (delivery backs off).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from aiolimiter import AsyncLimiter

from bot.config import DingTalkSettings, Settings
from channels.webhook import defuse, md_line
from scheduler.channel import Failed, RetryAfter, SendResult, Sent, Unreachable, register
from scheduler.notice import Action, ActionKind, Level, Notice

NAME = "dingtalk_app"
GROUP_PREFIX = "group:"
MARKDOWN_LIMIT = 4000  # characters per markdown message (DingTalk truncates long ones)
TITLE_LIMIT = 40  # the title is what the notification preview shows
TOKEN_MARGIN = 300  # seconds: fetch a new token this long before the old one expires
log = logging.getLogger(__name__)


# --- actions as replies ------------------------------------------------------------------------

# The word a reader sends back for each action, followed by the id it acts on.
COMMAND_WORDS: dict[ActionKind, str] = {
    ActionKind.CONFIRM: "确认",
    ActionKind.CORRECT: "修改",
    ActionKind.CANCEL: "取消",
    ActionKind.ACKNOWLEDGE: "知悉",
    ActionKind.RESOLVE: "办结",
    ActionKind.REOPEN: "未解决",
    ActionKind.APPROVE: "同意",
    ActionKind.REJECT: "驳回",
    ActionKind.CHOOSE_PROJECT: "选择",
}
_KINDS_BY_WORD = {word: kind for kind, word in COMMAND_WORDS.items()}
_COMMAND = re.compile(
    r"^\s*(" + "|".join(map(re.escape, _KINDS_BY_WORD)) + r")\s*#?\s*(\d{1,12})"
    r"(?:\s*[-/ ]\s*(\d{1,12}))?\s*$"
)


def command_text(action: Action) -> str:
    """What to send back for `action`: «确认 57», «选择 57-3»."""
    word = COMMAND_WORDS[action.kind]
    if action.option_id is not None:
        return f"{word} {action.target_id}-{action.option_id}"
    return f"{word} {action.target_id}"


def parse_command(text: str) -> Action | None:
    """The action a reply like «知悉 12» asks for (labels are not carried back)."""
    m = _COMMAND.match(text)
    if m is None:
        return None
    kind = _KINDS_BY_WORD[m.group(1)]
    option = m.group(3)
    if (kind is ActionKind.CHOOSE_PROJECT) != (option is not None):
        return None
    return Action(kind, int(m.group(2)), COMMAND_WORDS[kind],
                  int(option) if option is not None else None)


# --- rendering (pure) --------------------------------------------------------------------------

_LEVEL_COLOURS = {Level.YELLOW: "#D4A017", Level.ORANGE: "#FF7F00", Level.RED: "#E02020"}


def reply_link(label: str, content: str) -> str:
    """A link the DingTalk client turns into the message `content` from the reader."""
    return f"[{defuse(label)}](dtmd://dingtalkclient/sendMessage?content={quote(content)})"


def render_actions(actions: tuple[Action, ...], *, numbered: bool) -> list[str]:
    if not actions:
        return []
    if numbered:
        links = [reply_link(f"{i} {a.label}", str(i)) for i, a in enumerate(actions, 1)]
        return ["　".join(links), "请回复数字（或点选上面的选项）。"]
    out = []
    for a in actions:
        command = command_text(a)
        out.append(f"{reply_link(a.label, command)}：回复「{defuse(command)}」")
    return out


def title_of(notice: Notice) -> str:
    """The plain title for DingTalk's notification preview."""
    text = notice.plain_text().strip().split("\n", 1)[0] if notice.title is None else (
        "".join(s if isinstance(s, str) else s.text for s in notice.title))
    return (text or "攻坚助手")[:TITLE_LIMIT]


def render_markdown(notice: Notice, *, numbered: bool = False) -> list[str]:
    """The notice as one or more markdown texts (actions on the last one)."""
    lines: list[str] = []
    if notice.title is not None:
        title = md_line(notice.title)
        colour = _LEVEL_COLOURS.get(notice.level)
        lines.append(f"#### <font color={colour}>{title}</font>" if colour else f"#### {title}")
    lines += [md_line(ln) for ln in notice.lines]
    if notice.attachment is not None:
        lines.append(f"（附件 {defuse(notice.attachment.filename)} 请在电脑端台账中查看）")
    tail = render_actions(notice.all_actions, numbered=numbered)
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for ln in lines:
        if current and size + len(ln) + 3 > MARKDOWN_LIMIT:
            parts.append(_join(current))
            current, size = [], 0
        current.append(ln[:MARKDOWN_LIMIT])
        size += len(ln) + 3
    if tail:
        tail_text = _join(tail)
        if current and size + len(tail_text) + 4 > MARKDOWN_LIMIT:
            parts.append(_join(current))
            current = []
        current += ["", *tail]
    parts.append(_join(current))
    return parts


def _join(lines: list[str]) -> str:
    # Markdown needs two trailing spaces for a line break; an empty line is a paragraph.
    return "  \n".join(lines).replace("  \n  \n", "\n\n")


# --- the OpenAPI client ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ApiAnswer:
    status: int
    body: dict[str, Any]

    @property
    def code(self) -> str:
        return str(self.body.get("code") or "")

    @property
    def reason(self) -> str:
        message = self.body.get("message") or self.body.get("errmsg") or ""
        return f"钉钉 HTTP {self.status} {self.code} {message}".strip()[:1000]


class TokenError(Exception):
    """The access token could not be had (wrong AppKey/AppSecret, or DingTalk is down)."""


class DingTalkApi:
    """The robot's calls to api.dingtalk.com / oapi.dingtalk.com with a cached access token.

    Rate: enterprise internal apps may call each API 20 times a second by default; the
    limiter keeps below that, and a throttling answer is still classified, not raised."""

    def __init__(self, settings: DingTalkSettings, *, per_second: float = 20,
                 timeout: float = 15.0) -> None:
        assert settings.client_id and settings.client_secret
        self.settings = settings
        self.client_id = settings.client_id
        self.robot_code = settings.robot_code or settings.client_id
        self._secret = settings.client_secret.get_secret_value()
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._token: tuple[str, float] | None = None  # (token, monotonic expiry)
        self._token_lock = asyncio.Lock()
        self.limiter = AsyncLimiter(per_second, 1.0)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(self, url: str, body: dict[str, Any],
                    headers: dict[str, str] | None = None) -> ApiAnswer:
        async with self.session.post(url, json=body, headers=headers) as resp:
            try:
                data = await resp.json(content_type=None)
            except ValueError:
                data = {"message": (await resp.text())[:200]}
            return ApiAnswer(resp.status, data if isinstance(data, dict) else {})

    async def access_token(self) -> str:
        async with self._token_lock:
            if self._token is not None and time.monotonic() < self._token[1]:
                return self._token[0]
            try:
                answer = await self._post(
                    f"{self.settings.api_base_url}/v1.0/oauth2/accessToken",
                    {"appKey": self.client_id, "appSecret": self._secret})
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise TokenError(f"获取钉钉 accessToken 失败：{exc}") from exc
            token = answer.body.get("accessToken")
            if answer.status != 200 or not token:
                raise TokenError(f"获取钉钉 accessToken 失败：{answer.reason}")
            expires = float(answer.body.get("expireIn") or 7200)
            self._token = (str(token), time.monotonic() + max(expires - TOKEN_MARGIN, 60))
            return self._token[0]

    def forget_token(self) -> None:
        self._token = None

    async def call(self, path: str, body: dict[str, Any]) -> ApiAnswer:
        """POST to the new OpenAPI with the token header; a 401 fetches a new token once."""
        for attempt in range(2):
            token = await self.access_token()
            await self.limiter.acquire()
            answer = await self._post(f"{self.settings.api_base_url}{path}", body,
                                      {"x-acs-dingtalk-access-token": token})
            if answer.status != 401 or attempt:
                return answer
            self.forget_token()
        raise AssertionError("unreachable")

    async def open_connection(self, subscriptions: list[dict[str, str]], ua: str
                              ) -> dict[str, Any]:
        """Register a Stream connection: the websocket endpoint and its one-time ticket."""
        answer = await self._post(
            f"{self.settings.api_base_url}/v1.0/gateway/connections/open",
            {"clientId": self.client_id, "clientSecret": self._secret,
             "subscriptions": subscriptions, "ua": ua, "localIp": ""})
        if answer.status != 200 or not answer.body.get("endpoint"):
            raise TokenError(f"建立钉钉 Stream 连接失败：{answer.reason}")
        return answer.body

    async def user_mobile(self, user_id: str) -> str | None:
        """The user's mobile from the address book (needs 成员信息读权限 and 手机号码信息);
        None when the app may not read it or the user is unknown."""
        token = await self.access_token()
        await self.limiter.acquire()
        url = f"{self.settings.oapi_base_url}/topapi/v2/user/get?access_token={quote(token)}"
        answer = await self._post(url, {"userid": user_id, "language": "zh_CN"})
        if answer.status != 200 or answer.body.get("errcode") != 0:
            log.info("dingtalk user/get %s: %s", user_id, answer.reason)
            return None
        mobile = (answer.body.get("result") or {}).get("mobile")
        return str(mobile) if mobile else None

    async def send_markdown(self, address: str, title: str, text: str) -> ApiAnswer:
        param = json.dumps({"title": title, "text": text}, ensure_ascii=False)
        if address.startswith(GROUP_PREFIX):
            return await self.call("/v1.0/robot/groupMessages/send", {
                "robotCode": self.robot_code, "openConversationId": address[len(GROUP_PREFIX):],
                "msgKey": "sampleMarkdown", "msgParam": param})
        return await self.call("/v1.0/robot/oToMessages/batchSend", {
            "robotCode": self.robot_code, "userIds": [address],
            "msgKey": "sampleMarkdown", "msgParam": param})


# --- errors ----------------------------------------------------------------------------------

UNREACHABLE_CODES = ("staffid.notexisted", "invalidstaffid", "resource.not.found",
                     "conversation.notexist", "chatbot.notingroup")
THROTTLE_MARKERS = ("qpslimit", "qpmlimit", "throttling", "flowcontrol")


def classify(address: str, answer: ApiAnswer) -> SendResult:
    """What DingTalk's answer to one send means for delivery."""
    code = answer.code.lower()
    if answer.status == 200:
        body = answer.body
        if address in (body.get("invalidStaffIdList") or []):
            return Unreachable(f"钉钉用户 {address} 无效（不在企业内或已离职）")
        if address in (body.get("flowControlledStaffIdList") or []):
            return RetryAfter(60.0, f"钉钉对用户 {address} 限流")
        key = body.get("processQueryKey")
        return Sent(str(key) if key else None)
    if answer.status == 429 or any(m in code for m in THROTTLE_MARKERS):
        return RetryAfter(60.0 if "qpm" in code else 1.0, answer.reason)
    if any(c in code for c in UNREACHABLE_CODES):
        return Unreachable(answer.reason)
    if answer.status >= 500:
        return RetryAfter(0.0, answer.reason)
    if answer.status == 401:
        return RetryAfter(0.0, answer.reason)
    return Failed(answer.reason)


# --- the channel -----------------------------------------------------------------------------

class DingTalkChannel:
    name = NAME

    def __init__(self, api: DingTalkApi, *, owns_api: bool = False) -> None:
        self.api, self._owns_api = api, owns_api

    async def send(self, address: str, notice: Notice, *, numbered: bool = False
                   ) -> SendResult:
        title = title_of(notice)
        result: SendResult = Sent()
        for text in render_markdown(notice, numbered=numbered):
            try:
                answer = await self.api.send_markdown(address, title, text)
            except TokenError as exc:
                return RetryAfter(0.0, str(exc))
            except (aiohttp.ClientError, TimeoutError) as exc:
                return RetryAfter(0.0, f"{type(exc).__name__}: {exc}")
            result = classify(address, answer)
            if not isinstance(result, Sent):
                log.info("dingtalk send to %s: %s", address, result)
                return result
        return result

    async def close(self) -> None:
        if self._owns_api:
            await self.api.close()


def configured(settings: Settings) -> bool:
    dt = settings.dingtalk
    return bool(dt.client_id and dt.client_secret)


def from_settings(settings: Settings) -> DingTalkChannel | None:
    if not configured(settings):
        return None
    return DingTalkChannel(DingTalkApi(settings.dingtalk), owns_api=True)


register(NAME, from_settings)
