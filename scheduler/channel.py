"""The channel seam: one provider per chat platform, registered by name.

A channel sends a Notice to an address (a chat id, a user id, a group robot's name — opaque
text to everything but the channel) and says what happened: Sent (with the platform's
message id), RetryAfter (the platform asked to wait, or a transient fault), Unreachable (the
recipient cannot be reached there: blocked, left, deleted) or Failed (the platform refused
this message; sending it again will not help). Each channel renders the notice its own way,
keeps its own rate limits and classifies its own errors; delivery (scheduler.delivery) only
reads the SendResult. Channel implementations live above, in the top-level `channels`
package, which registers each one here (GoAlert's provider registry).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from scheduler.notice import Notice

if TYPE_CHECKING:
    from bot.config import Settings


@dataclass(frozen=True, slots=True)
class Sent:
    message_id: str | None = None  # the platform's id of the (last) message, if it gives one


@dataclass(frozen=True, slots=True)
class RetryAfter:
    seconds: float
    reason: str = ""
    # False for a rate limit (the channel's own window was full, or the platform said "too
    # fast"): no fault of the message, so the wait uses up none of the row's attempts —
    # what does not fit waits for its window and is never dropped.
    counts: bool = True


@dataclass(frozen=True, slots=True)
class Unreachable:
    reason: str


@dataclass(frozen=True, slots=True)
class Failed:
    reason: str


SendResult = Sent | RetryAfter | Unreachable | Failed


@runtime_checkable
class Channel(Protocol):
    """One platform. `name` is its registry key and the `channel` column of its rows."""

    name: str

    async def send(self, address: str, notice: Notice) -> SendResult:
        """Deliver `notice` to `address`; never raises for the platform's own errors."""
        ...

    async def close(self) -> None:
        """Release connections (HTTP sessions)."""
        ...


# A factory builds the channel from the settings, or returns None when it is not configured.
ChannelFactory = Callable[["Settings"], Channel | None]
_PROVIDERS: dict[str, ChannelFactory] = {}


def register(name: str, factory: ChannelFactory) -> None:
    """Make the platform `name` available (called once per channel module)."""
    if name in _PROVIDERS and _PROVIDERS[name] is not factory:
        raise ValueError(f"channel {name!r} registered twice")
    _PROVIDERS[name] = factory


def providers() -> Mapping[str, ChannelFactory]:
    return dict(_PROVIDERS)


def open_channels(settings: Settings, *, skip: Collection[str] = ()) -> dict[str, Channel]:
    """Every registered channel that the settings configure, by name (but those in `skip`)."""
    out: dict[str, Channel] = {}
    for name, factory in _PROVIDERS.items():
        if name in skip:
            continue
        channel = factory(settings)
        if channel is not None:
            out[name] = channel
    return out
