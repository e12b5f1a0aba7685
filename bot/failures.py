"""What happens when handling a person's message fails: a reference number, the error logged
under it, and a short Chinese apology naming it. Channel-neutral: each channel's adapter
(handlers/errors.py for Telegram) only delivers the text."""

from __future__ import annotations

import datetime as dt
import logging
import secrets

log = logging.getLogger("gongjian.failures")


def new_reference(now: dt.datetime) -> str:
    """Short enough to read out on the phone, unique enough to find in the log:
    month-day, hour-minute and four random hex digits, e.g. 1201-0930-7F3A."""
    return f"{now:%m%d-%H%M}-{secrets.token_hex(2).upper()}"


def apology(reference: str) -> str:
    return (f"抱歉，处理您的消息时出了问题（编号 {reference}）。已收到的内容不会丢失，"
            f"请稍后再试；如仍不行，请把编号告诉区重点项目办。")


def record_failure(exc: BaseException, now: dt.datetime, where: str) -> str:
    """Log `exc` with its traceback under a new reference number; returns the number."""
    reference = new_reference(now)
    log.error("编号 %s：处理 %s 时出错", reference, where, exc_info=exc)
    return reference
