"""Retry scheduling: when a failed delivery is tried again, or that it is dead."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# A Retry-After longer than this is not honoured in full: a misbehaving
# endpoint must not park events for days.
MAX_RETRY_AFTER = 3600.0


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return min(max((when - now).total_seconds(), 0.0), MAX_RETRY_AFTER)


def next_delay(
    attempts_made: int,
    schedule: list[float],
    jitter: float = 0.1,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float | None:
    """Seconds until the next attempt after ``attempts_made`` failed ones.

    ``schedule[i]`` is the wait before retry i + 1, so an event gets
    ``1 + len(schedule)`` attempts; None means the last one failed and the
    event is dead. Jitter spreads retries by +/- ``jitter`` of the delay so
    that events failed together do not return together. A Retry-After from
    the endpoint wins when it asks for a longer wait.
    """
    if attempts_made < 1:
        raise ValueError("attempts_made counts failed attempts and starts at 1")
    if attempts_made > len(schedule):
        return None
    base = schedule[attempts_made - 1]
    delay = base * (1.0 + (rng or random).uniform(-jitter, jitter))
    if retry_after is not None and retry_after > delay:
        return retry_after
    return delay
