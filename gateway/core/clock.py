"""The time, from one injectable place.

Everything that reads the time (the sender's schedule, the circuit breaker, expiry, the
replay window, receipts, due dates) asks a ``Clock``. A running gateway uses ``SystemClock``;
tests use ``ManualClock`` and move it instead of sleeping.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from gateway.core.logsafe import failure

log = logging.getLogger(__name__)

LONDON = ZoneInfo("Europe/London")  # every LA is in England: officers read local time


def local(t: float) -> dt.datetime:
    """A UNIX time as local time in England (GMT or BST)."""
    return dt.datetime.fromtimestamp(t, LONDON)


def local_date(t: float) -> dt.date:
    """The date in England at UNIX time ``t`` (deadlines count in local days)."""
    return local(t).date()


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch (as ``time.time()``)."""
        ...

    def now(self) -> dt.datetime:
        """The current UTC time, timezone-aware."""
        ...

    def today(self) -> dt.date:
        """Today's date in England (where every LA is): dates on forms are local."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def today(self) -> dt.date:
        return dt.date.today()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock:
    """A clock that moves only when told (``advance``). ``sleep`` yields to the loop but
    does not wait: a task that sleeps sees time move only when the test moves it."""

    def __init__(self, start: float | dt.datetime = 1_800_000_000.0) -> None:
        self._t = start.timestamp() if isinstance(start, dt.datetime) else float(start)

    def time(self) -> float:
        return self._t

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._t, dt.UTC)

    def today(self) -> dt.date:
        return self.now().date()

    def advance(self, seconds: float) -> None:
        self._t += seconds

    def set(self, when: float | dt.datetime) -> None:
        self._t = when.timestamp() if isinstance(when, dt.datetime) else float(when)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


SYSTEM = SystemClock()


async def every(seconds: Callable[[], float], tick: Callable[[], Awaitable[Any]], what: str,
                clock: Clock = SYSTEM) -> None:
    """Run ``tick`` for ever, ``seconds()`` apart; a failing tick is logged and retried."""
    while True:
        try:
            await tick()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("%s tick failed; retrying: %s", what, failure(exc))
        await clock.sleep(seconds())
