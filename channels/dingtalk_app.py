"""DingTalk (钉钉) enterprise internal app robot: the outbound channel to people and the
groups the robot is in, and the OpenAPI client. (The office group robots with a webhook are
channels/dingtalk.py.)

A Notice becomes DingTalk markdown (`sampleMarkdown`; its attachment, uploaded through
/media/upload, follows as `sampleImageMsg` or `sampleFile`): the title coloured by level, lines
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
from scheduler.notice import Action, ActionKind, Attachment, AttachmentKind, Level, Notice

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


class CredentialsRejected(TokenError):
    """DingTalk refused the AppKey/AppSecret (a configuration error, not an outage)."""


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
            if 400 <= answer.status < 500:
                raise CredentialsRejected(f"钉钉拒绝了 AppKey/AppSecret：{answer.reason}")
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
        """The user's mobile from the address book (needs 成员信息读权限 and 企业员工手机号信息);
        None when the app may not read it or the user is unknown."""
        token = await self.access_token()
        await self.limiter.acquire()
        url = f"{self.settings.oapi_base_url}/topapi/v2/user/get?access_token={quote(token)}"
        answer = await self._post(url, {"userid": user_id, "language": "zh_CN"})
        if answer.status != 200 or answer.body.get("errcode") != 0:
            log.info("钉钉 user/get %s：%s", user_id, answer.reason)
            return None
        mobile = (answer.body.get("result") or {}).get("mobile")
        return str(mobile) if mobile else None

    async def upload(self, attachment: Attachment) -> ApiAnswer:
        """Upload a picture or file (/media/upload): its media_id is in the answer."""
        token = await self.access_token()
        await self.limiter.acquire()
        kind = "image" if attachment.kind is AttachmentKind.IMAGE else "file"
        url = (f"{self.settings.oapi_base_url}/media/upload"
               f"?access_token={quote(token)}&type={kind}")
        form = aiohttp.FormData()
        form.add_field("media", attachment.data, filename=attachment.filename,
                       content_type="image/png" if kind == "image"
                       else "application/octet-stream")
        async with self.session.post(url, data=form) as resp:
            try:
                data = await resp.json(content_type=None)
            except ValueError:
                data = {"errmsg": (await resp.text())[:200]}
        return ApiAnswer(resp.status, data if isinstance(data, dict) else {})

    async def send(self, address: str, msg_key: str, param: dict[str, Any]) -> ApiAnswer:
        """One robot message (`msg_key` is DingTalk's message template: sampleMarkdown,
        sampleImageMsg, sampleFile …) to a user or a group."""
        text = json.dumps(param, ensure_ascii=False)
        if address.startswith(GROUP_PREFIX):
            return await self.call("/v1.0/robot/groupMessages/send", {
                "robotCode": self.robot_code, "openConversationId": address[len(GROUP_PREFIX):],
                "msgKey": msg_key, "msgParam": text})
        return await self.call("/v1.0/robot/oToMessages/batchSend", {
            "robotCode": self.robot_code, "userIds": [address],
            "msgKey": msg_key, "msgParam": text})

    async def send_markdown(self, address: str, title: str, text: str) -> ApiAnswer:
        return await self.send(address, "sampleMarkdown", {"title": title, "text": text})


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

Part = tuple[str, dict[str, Any]] | Attachment  # (msgKey, msgParam) or a file to upload first


class DingTalkChannel:
    name = NAME

    def __init__(self, api: DingTalkApi, *, owns_api: bool = False) -> None:
        self.api, self._owns_api = api, owns_api

    async def send(self, address: str, notice: Notice, *, numbered: bool = False
                   ) -> SendResult:
        title = title_of(notice)
        parts: list[Part] = [("sampleMarkdown", {"title": title, "text": text})
                             for text in render_markdown(notice, numbered=numbered)]
        if notice.attachment is not None:
            parts.append(notice.attachment)
        result: SendResult = Sent()
        for i, part in enumerate(parts):
            try:
                if isinstance(part, Attachment):
                    result = await self._attachment(address, part)
                else:
                    result = classify(address, await self.api.send(address, *part))
            except TokenError as exc:
                result = RetryAfter(0.0, str(exc))
            except (aiohttp.ClientError, TimeoutError) as exc:
                result = RetryAfter(0.0, f"{type(exc).__name__}: {exc}")
            if isinstance(result, Sent):
                continue
            log.info("钉钉发送到 %s：%s", address, result)
            if i == 0:
                return result
            # The parts already shown cannot be taken back: sending again would show them
            # twice, so the rest is reported, not retried.
            reason = getattr(result, "reason", "")
            return Failed(f"已发出 {i}/{len(parts)} 段，其余未发：{reason}"[:1000])
        return result

    async def _attachment(self, address: str, attachment: Attachment) -> SendResult:
        """Upload, then send as a picture (sampleImageMsg) or a file (sampleFile)."""
        uploaded = await self.api.upload(attachment)
        media_id = uploaded.body.get("media_id")
        if uploaded.status != 200 or uploaded.body.get("errcode") != 0 or not media_id:
            if uploaded.status >= 500 or uploaded.body.get("errcode") == -1:
                return RetryAfter(0.0, f"钉钉上传附件失败：{uploaded.reason}")
            return Failed(f"钉钉上传附件失败：{uploaded.reason}")
        if attachment.kind is AttachmentKind.IMAGE:
            answer = await self.api.send(address, "sampleImageMsg", {"photoURL": media_id})
        else:
            name, _, ext = attachment.filename.rpartition(".")
            answer = await self.api.send(address, "sampleFile", {
                "mediaId": media_id, "fileName": attachment.filename,
                "fileType": ext.lower() if name else "file"})
        return classify(address, answer)

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
