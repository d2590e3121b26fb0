"""Public holidays of ``CX_HOLIDAY_COUNTRY`` (the holidays package, offline)."""

from __future__ import annotations

import functools
import re

import pandas as pd


def parse_holiday_country(spec: str) -> tuple[str, str | None] | None:
    """'GB' -> ('GB', None); 'GB-ENG' -> ('GB', 'ENG'); '' -> None. Unknown codes raise
    a ValueError naming the setting (a typo must not silently drop all holidays)."""
    spec = (spec or "").strip()
    if not spec:
        return None
    country, _, subdiv = spec.partition("-")
    try:
        _holidays_between(country.upper(), subdiv.upper() or None, 2000, 2000)
    except (NotImplementedError, KeyError, AttributeError) as exc:
        from cx.errors import ConfigurationError  # a ValueError: deterministic, not retried

        raise ConfigurationError(
            f"CX_HOLIDAY_COUNTRY={spec!r} is not known to the holidays package ({exc}); use an ISO code "
            "such as GB, DE or US, optionally with a subdivision such as GB-ENG, or leave it empty"
        ) from None
    return country.upper(), subdiv.upper() or None


@functools.lru_cache(maxsize=64)
def _holidays_between(country: str, subdiv: str | None, first_year: int, last_year: int) -> dict[pd.Timestamp, str]:
    import holidays  # ships with prophet; offline

    days = holidays.country_holidays(country, subdiv=subdiv, years=range(first_year, last_year + 1))
    # "Christmas Day (observed)" is the same closure as "Christmas Day" moved off a weekend.
    return {pd.Timestamp(d): re.sub(r"\s*\(observed.*\)$", "", name) for d, name in days.items()}


def holidays_in(spec: str, start: pd.Timestamp, end: pd.Timestamp) -> dict[pd.Timestamp, str]:
    parsed = parse_holiday_country(spec)
    if parsed is None:
        return {}
    table = _holidays_between(parsed[0], parsed[1], start.year, end.year)
    return {d: name for d, name in table.items() if start <= d <= end}
