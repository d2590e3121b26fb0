"""Demand over the calendar: trend, weekly and yearly seasonality, holidays.

The multiplier scales every customer's daily order rate, so the total daily sales
series carries the patterns a forecaster should find; the shop is closed on Dec 25.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

# Monday .. Sunday: weekend shopping is stronger.
WEEKLY = np.array([0.92, 0.90, 0.93, 0.97, 1.05, 1.25, 1.13])
TREND_PER_YEAR = 0.20


def black_friday(year: int) -> date:
    """The day after the fourth Thursday of November."""
    first = date(year, 11, 1)
    first_thursday = first + timedelta(days=(3 - first.weekday()) % 7)
    return first_thursday + timedelta(days=22)


def holiday_factor(d: date) -> float:
    """Multiplier for holidays and retail events (0 = shop closed)."""
    bf = black_friday(d.year)
    if d == bf:
        return 2.6
    if d == bf + timedelta(days=3):  # Cyber Monday
        return 1.8
    if (d.month, d.day) == (12, 25):
        return 0.0
    if (d.month, d.day) == (12, 24):
        return 0.6
    if (d.month, d.day) == (12, 26):
        return 1.3
    if (d.month, d.day) == (1, 1):
        return 0.5
    return 1.0


def is_closed(d: date) -> bool:
    return holiday_factor(d) == 0.0


def yearly_factor(d: date) -> float:
    """Smooth yearly curve: November ramp, December peak, January lull, summer dip."""
    doy = d.timetuple().tm_yday
    peak = 0.75 * np.exp(-0.5 * ((doy - 348) / 14.0) ** 2)
    ramp = 0.20 * np.exp(-0.5 * ((doy - 325) / 15.0) ** 2)
    lull = -0.15 * np.exp(-0.5 * ((min(doy, 400 - doy) - 20) / 15.0) ** 2)
    summer = -0.08 * np.exp(-0.5 * ((doy - 200) / 25.0) ** 2)
    return float(1.0 + peak + ramp + lull + summer)


def demand(d: date, origin: date) -> float:
    """Order-rate multiplier for day ``d`` of a run that started at ``origin``."""
    trend = 1.0 + TREND_PER_YEAR * (d - origin).days / 365.0
    return float(trend * WEEKLY[d.weekday()] * yearly_factor(d) * holiday_factor(d))


def browsing(d: date, origin: date) -> float:
    """Web traffic multiplier: follows demand but damped, and never zero."""
    closed_floor = 0.5 if is_closed(d) else 0.0
    return float(max(np.sqrt(demand(d, origin)), closed_floor))
