"""One-time tokens (invitations, dashboard sign-in links): only the SHA-256 is stored, and a
token is spent by a conditional UPDATE so two concurrent uses succeed at most once."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import InviteToken, WebLoginToken

MAX_TOKEN_LENGTH = 128
TokenRow = TypeVar("TokenRow", InviteToken, WebLoginToken)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A URL-safe token that opens with a letter or digit: one opening with "-" is written as
    '-… in a spreadsheet (the formula guard), and someone copying it from the invite sheet
    would copy the apostrophe too."""
    while not (token := secrets.token_urlsafe(24))[0].isalnum():
        pass
    return token


async def usable(
    session: AsyncSession, model: type[TokenRow], token: str, now: dt.datetime
) -> TokenRow | None:
    """The row of `token` if it is known, unused and unexpired at `now`."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    row = await session.scalar(select(model).where(model.token_hash == hash_token(token)))
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    return row


async def spend(
    session: AsyncSession, model: type[TokenRow], token: str, now: dt.datetime
) -> TokenRow | None:
    """Mark `token` used; its row, or None when it was not usable or someone spent it first."""
    row = await usable(session, model, token, now)
    if row is None:
        return None
    result = await session.execute(
        update(model).where(model.id == row.id, model.used_at.is_(None)).values(used_at=now)
    )
    return row if result.rowcount else None  # type: ignore[attr-defined]
