"""The page's charts: section data turned into inline SVG (see :mod:`cx.ui.svg`)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
from markupsafe import Markup

from cx.ui import svg


def kpi_sparkline(kpi: Any) -> Markup | None:
    return svg.sparkline(kpi.values, label=f"{kpi.name}, last {len(kpi.values)} days")


def segment_shares(data: dict[str, Any], css_id: str = "segment-share-chart") -> Markup | None:
    return svg.stacked_share(
        data.get("share_days") or [],
        data.get("shares") or {},
        label="share of customers per segment by run day",
        css_id=css_id,
    )


def band_shares(days: list[date], shares: dict[str, list[float]], css_id: str, label: str) -> Markup | None:
    return svg.stacked_share(days, shares, label=label, css_id=css_id)


def segment_colours(data: dict[str, Any]) -> dict[str, str]:
    return svg.colours_for(list(data.get("shares") or {}))


def segment_sizes(data: dict[str, Any]) -> Markup | None:
    colours = segment_colours(data)
    return svg.bars(
        data.get("sizes") or [], label="customers per segment", colours=colours, css_id="segment-sizes-chart"
    )


def sentiment_trend(frame: pd.DataFrame, css_id: str, top: int = 6) -> Markup | None:
    """Weekly mean sentiment of the groups with the most texts."""
    if frame is None or frame.empty:
        return None
    biggest = frame.groupby("group")["texts"].sum().sort_values(ascending=False).head(top).index
    colours = svg.colours_for([str(g) for g in biggest])
    series = []
    for group in sorted(biggest):
        part = frame[frame["group"] == group].copy()
        part["week"] = pd.to_datetime(part["created_on"]).dt.to_period("W").dt.start_time.dt.date
        part["weighted"] = part["mean_score"] * part["texts"]
        weekly = part.groupby("week").agg(weighted=("weighted", "sum"), texts=("texts", "sum"))
        points = [(d, float(r.weighted / r.texts)) for d, r in weekly.iterrows() if r.texts]
        series.append(svg.Series(str(group), points, colours[str(group)]))
    return svg.line_chart(series, label="mean sentiment per week", css_id=css_id, y_zero=False, width=560, height=260)


def sentiment_mix(distribution: list[dict[str, Any]], source: str) -> Markup | None:
    items = [(r["label"], float(r["texts"])) for r in distribution if r["source"] == source]
    order = {"negative": 0, "neutral": 1, "positive": 2}
    items.sort(key=lambda item: order.get(item[0], 3))
    return svg.bars(
        items, label=f"{source}s per sentiment", colours=svg.SENTIMENT_COLOURS, css_id=f"sentiment-mix-{source}"
    )


def forecast(one: dict[str, Any], run: date, *, large: bool = False) -> Markup | None:
    """Actuals (solid), forecast (dashed) with its interval band, and the run day marked."""
    fc, act = one["forecast"], one["actuals"]
    if fc is None or fc.empty:
        return None
    series = []
    if "yhat_lower_95" in fc and fc["yhat_lower_95"].notna().any():
        series.append(
            svg.Series(
                "95% interval",
                [],
                svg.PALETTE[4],
                band=list(zip(fc["ds"], fc["yhat_lower_95"], fc["yhat_upper_95"], strict=False)),
            )
        )
    series.append(
        svg.Series(
            "forecast",
            list(zip(fc["ds"], fc["yhat"], strict=False)),
            svg.PALETTE[0],
            dashed=True,
            band=list(zip(fc["ds"], fc["yhat_lower"], fc["yhat_upper"], strict=False)),
        )
    )
    if act is not None and not act.empty:
        series.append(svg.Series("actual", list(zip(act["ds"], act["actual"], strict=False)), svg.PALETTE[5]))
    width, height = (1200, 520) if large else (560, 260)
    ident = f"forecast-{one['series']}-{one['metric']}".replace(" ", "_")
    return svg.line_chart(
        series,
        label=f"{one['metric']} of {one['series']}: forecast against actuals",
        width=width,
        height=height,
        marker=run,
        css_id=ident,
    )


def quality_trend(sources: pd.DataFrame) -> Markup | None:
    """Failed checks per day and source table."""
    if sources is None or sources.empty:
        return None
    failing = failing_sources(sources)
    if not failing:
        return None
    wide = _wide(sources, "as_of_date", "table", "failed")
    colours = svg.colours_for(failing)
    series = [svg.Series(n, list(zip(wide.index, wide[n], strict=False)), colours[n]) for n in failing]
    return svg.line_chart(series, label="failed checks per day and source", css_id="dq-trend-chart", height=240)


def failing_sources(sources: pd.DataFrame) -> list[str]:
    if sources is None or sources.empty:
        return []
    totals = sources.groupby(sources["table"].astype(str))["failed"].sum()
    return sorted(totals[totals > 0].index)


def _wide(frame: pd.DataFrame, day: str, group: str, value: str) -> pd.DataFrame:
    """Day x group, every day of the span present (a day without rows is 0)."""
    days = [pd.Timestamp(d).date() for d in frame[day]]
    wide = frame.assign(**{day: days, group: frame[group].astype(str)}).pivot_table(
        index=day, columns=group, values=value, aggfunc="sum", fill_value=0
    )
    span = pd.date_range(min(days), max(days)).date
    return wide.reindex(span, fill_value=0).astype(float)


def quarantine_trend(frame: pd.DataFrame) -> Markup | None:
    if frame is None or frame.empty:
        return None
    wide = _wide(frame, "as_of_date", "source", "rows")
    colours = svg.colours_for(list(wide.columns))
    series = [svg.Series(n, list(zip(wide.index, wide[n], strict=False)), colours[n]) for n in wide.columns]
    return svg.line_chart(series, label="quarantined rows per day and source", css_id="quarantine-chart", height=240)


def legend(names: list[str]) -> list[tuple[str, str]]:
    colours = svg.colours_for(names)
    return [(n, colours[n]) for n in sorted(names)]
