"""Dashboard sessions: a signed cookie naming the person, with an expiry.

The cookie carries the person's id and its expiry, signed with itsdangerous (HMAC); it
is HttpOnly, SameSite=Lax (the sign-in link is opened from a chat app, a cross-site
navigation) and Secure when the public address is https.
"""

from __future__ import annotations

import datetime as dt
import secrets

from aiohttp import web
from itsdangerous import BadSignature, URLSafeSerializer

from bot.config import WebSettings

COOKIE = "gongjian_session"
SALT = "gongjian.web.session"


class SessionCodec:
    def __init__(self, web_settings: WebSettings) -> None:
        key = web_settings.secret_key
        secret = key.get_secret_value() if key else secrets.token_urlsafe(32)
        self.serializer = URLSafeSerializer(secret, salt=SALT)
        self.max_age = dt.timedelta(days=web_settings.session_days)
        self.secure = (web_settings.public_url or "").startswith("https://")

    def dumps(self, person_id: int, now: dt.datetime) -> str:
        # The expiry is inside the signed value: the cookie's Max-Age alone is the browser's
        # word, not ours.
        return self.serializer.dumps({"p": person_id, "e": int((now + self.max_age).timestamp())})

    def loads(self, value: str, now: dt.datetime) -> int | None:
        """The person id in a cookie this server signed that has not expired at `now`."""
        try:
            data = self.serializer.loads(value)
        except BadSignature:
            return None
        if not isinstance(data, dict):
            return None
        person, expires = data.get("p"), data.get("e")
        if not isinstance(person, int) or not isinstance(expires, int):
            return None
        return person if now.timestamp() < expires else None

    def set_cookie(self, response: web.StreamResponse, person_id: int, now: dt.datetime) -> None:
        response.set_cookie(
            COOKIE, self.dumps(person_id, now), max_age=int(self.max_age.total_seconds()),
            path="/", httponly=True, samesite="Lax", secure=self.secure,
        )

    @staticmethod
    def clear_cookie(response: web.StreamResponse) -> None:
        response.del_cookie(COOKIE, path="/")
