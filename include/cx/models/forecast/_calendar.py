"""When the shop trades, read off its total sales, and the holidays it closes on."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from cx.models.forecast._backtest import future_index, open_mask
from cx.models.forecast._config import ForecastConfig
from cx.models.forecast._holidays import holidays_in


@dataclass(frozen=True)
class Calendar:
    """When the shop trades, as read off its total sales (see :func:`shop_calendar`)."""

    weekdays: frozenset[int] = frozenset()  # never trades on these (0 = Monday)
    closures: frozenset[pd.Timestamp] = frozenset()  # usual trading days without any sale

    def up_to(self, day: pd.Timestamp) -> Calendar:
        """What was known on ``day`` (backtests must not see later closures)."""
        return replace(self, closures=frozenset(d for d in self.closures if d <= day))


def closed_weekdays(total: pd.Series, max_share: float, min_weeks: int = 3) -> frozenset[int]:
    """Weekdays on which the shop (almost) never trades, judged on the total series."""
    traded = (total > 0).groupby(total.index.day_of_week).agg(["mean", "size"])
    closed = traded.loc[(traded["size"] >= min_weeks) & (traded["mean"] <= max_share)].index
    return frozenset(int(d) for d in closed)


def shop_calendar(total: pd.Series, cfg: ForecastConfig) -> Calendar:
    weekdays = closed_weekdays(total, cfg.closed_weekday_max_share)
    trading = open_mask(total.index, weekdays)
    closures = frozenset(pd.Timestamp(d) for d in total.index[trading & (total.to_numpy() == 0)])
    return Calendar(weekdays, closures)


def holiday_closures(history: pd.Series, horizon: int, calendar: Calendar, country: str) -> frozenset[pd.Timestamp]:
    """Future holidays the shop will be closed on: every past occurrence of that holiday
    on a trading weekday was a closure (a holiday that fell on a closed weekday says
    nothing either way)."""
    future = future_index(history, horizon)
    upcoming = holidays_in(country, future[0], future[-1])
    if not upcoming:
        return frozenset()
    evidence: dict[str, list[bool]] = {}
    for day, name in holidays_in(country, history.index[0], history.index[-1]).items():
        if day.day_of_week not in calendar.weekdays:
            evidence.setdefault(name, []).append(day in calendar.closures)
    closed_names = {name for name, seen in evidence.items() if seen and all(seen)}
    return frozenset(day for day, name in upcoming.items() if name in closed_names)
