"""The DingTalk robot as one service for `gongjian run`: the Stream connection in, the
conversation, and replies out through the DingTalk channel.

Replies go straight back (as the Telegram handlers answer the person who wrote); pushes to
people (alerts, digests) go through the outbox and the same channel, registered as
`dingtalk_app`. A reply the platform throttles is tried again after the wait it asks for,
a few times, before it is given up (logged): the report itself is stored either way. A bug
while handling a message is answered with the apology naming its logged reference
(bot.failures), as on Telegram; storage being away leaves the message unacknowledged, so
DingTalk delivers it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import failures
from bot.config import Settings
from bot.conversation import PRIVATE_UNREACHABLE
from bot.services.registry import ParserHolder
from channels.dingtalk_app import CredentialsRejected, DingTalkApi, DingTalkChannel, TokenError
from channels.dingtalk_chat import Clock, DingTalkChat, Replies, utcnow
from channels.dingtalk_stream import RobotMessage, StreamClient
from scheduler.channel import RetryAfter, Sent
from scheduler.notice import Notice
from scheduler.workdays import WorkCalendar

log = logging.getLogger(__name__)
REPLY_TRIES = 3
MAX_REPLY_WAIT = 10.0
SEEN_KEPT = 2000  # message ids remembered against redelivery


class DingTalkRobot:
    def __init__(self, settings: Settings, session_factory: async_sessionmaker[AsyncSession],
                 *, parser: ParserHolder, calendar: WorkCalendar, clock: Clock = utcnow,
                 api: DingTalkApi | None = None) -> None:
        self.api = api or DingTalkApi(settings.dingtalk)
        self.channel = DingTalkChannel(self.api)
        self.chat = DingTalkChat(settings, session_factory, self.api, parser=parser,
                                 calendar=calendar, clock=clock)
        self.stream = StreamClient(self.api, self.on_message)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._handled: OrderedDict[str, None] = OrderedDict()

    def _remember(self, message_id: str) -> None:
        """DingTalk sends a message again when its ack was lost: what this process answered
        is not answered twice (reports are also deduplicated in the database)."""
        self._handled[message_id] = None
        if len(self._handled) > SEEN_KEPT:
            self._handled.popitem(last=False)

    async def check(self) -> None:
        """Fail early on credentials DingTalk refuses (CredentialsRejected with its reason);
        an outage is only logged: the Stream connection keeps trying."""
        try:
            await self.api.access_token()
        except CredentialsRejected:
            raise
        except TokenError as exc:
            log.warning("钉钉暂时无法连接（%s）；Stream 连接会自动重试", exc)

    async def on_message(self, message: RobotMessage) -> None:
        if message.message_id in self._handled:
            return
        try:
            replies = await self.chat.handle(message)
        except (DBAPIError, OSError):
            raise  # storage is away: not acknowledged, DingTalk delivers it again
        except Exception as exc:  # never silence: an apology naming the logged reference
            reference = failures.record_failure(
                exc, self.chat.clock(), f"dingtalk message {message.message_id}")
            replies = Replies([Notice.of([failures.apology(reference)])])
        self._remember(message.message_id)
        notices = replies.here
        for notice in replies.privately:  # to the sender one-to-one, before the group's note
            if not await self._reply(message.sender_id, notice):
                notices = [Notice.of([PRIVATE_UNREACHABLE])]  # never the answer itself
                break
        for notice in notices:
            await self._reply(message.reply_address, notice)

    async def _reply(self, address: str, notice: Notice) -> bool:
        for _ in range(REPLY_TRIES):
            result = await self.channel.send(address, notice, numbered=True)
            if not isinstance(result, RetryAfter):
                break
            await asyncio.sleep(min(max(result.seconds, 0.5), MAX_REPLY_WAIT))
        if not isinstance(result, Sent):
            log.warning("钉钉回复 %s 未送达：%s", address, result)
            return False
        return True

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self.stream.run(self._stop))

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.api.close()
