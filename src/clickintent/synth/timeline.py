"""The fixed observation window of the synthetic world, and time-of-day patterns.

Dates are fixed (not relative to today) so that the same seed always yields the same tables.
Inside the generator every time is an int64 count of microseconds since WINDOW_START; the
Arrow assembly converts them to `timestamp[us, tz=UTC]` at the end.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

WINDOW_START = datetime(2026, 1, 5, tzinfo=UTC)
WINDOW_DAYS = 120  # 2026-01-05 .. 2026-05-04 inclusive

SECOND = 1_000_000  # microseconds
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WINDOW_US = WINDOW_DAYS * DAY

# Microseconds from the Unix epoch to WINDOW_START, for the final conversion to UTC timestamps.
WINDOW_START_EPOCH_US = int(WINDOW_START.timestamp()) * SECOND


def us_since_start(moment: datetime) -> int:
    """A calendar moment as microseconds since WINDOW_START."""
    return int((moment - WINDOW_START).total_seconds()) * SECOND


# Relative activity per hour of day (UTC is treated as the visitors' local time). The public
# site peaks at lunch and in the evening; the app also has a morning peak (balance checks).
WEB_HOURLY = np.array(
    [0.5, 0.3, 0.2, 0.15, 0.15, 0.3, 0.8, 1.5, 2.2, 2.8, 3.0, 3.1, 3.3, 3.2, 3.0, 3.0, 3.1, 3.3, 3.6, 4.0, 4.1, 3.6, 2.4, 1.2]
)
APP_HOURLY = np.array(
    [0.4, 0.2, 0.15, 0.1, 0.15, 0.5, 1.5, 3.0, 3.5, 3.0, 2.8, 3.0, 3.6, 3.2, 2.8, 2.8, 3.0, 3.6, 4.0, 4.0, 3.8, 3.2, 2.0, 1.0]
)


def time_of_day(rng: np.random.Generator, n: int, hourly: np.ndarray) -> np.ndarray:
    """n random offsets into a day (microseconds) following an hourly activity profile."""
    cdf = np.cumsum(hourly) / hourly.sum()
    hours = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), 23)
    return hours * HOUR + (rng.random(n) * HOUR).astype(np.int64)


def snap_to_day(rng: np.random.Generator, moments: np.ndarray, hourly: np.ndarray) -> np.ndarray:
    """Keep each moment's day and redraw its time of day from the hourly profile."""
    days = moments // DAY
    return days * DAY + time_of_day(rng, len(moments), hourly)
