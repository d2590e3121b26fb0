"""Server-side HTML for the Customer Experience page (Jinja2 templates in
``templates/``, autoescaped). No script, font or style from elsewhere: the page works
without internet and its Content-Security-Policy allows nothing but this server."""

from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from cx.ui import charts
from cx.ui.artifacts import Charts, chart_title
from cx.ui.reader import Unavailable
from cx.ui.views import Loaded

TEMPLATES = Path(__file__).with_name("templates")
TABS = (
    ("overview", "Overview", "/"),
    ("customer", "Customer", "/customer"),
    ("segments", "Segments", "/segments"),
    ("retention", "Retention", "/retention"),
    ("sentiment", "Sentiment", "/sentiment"),
    ("forecasts", "Forecasts", "/forecasts"),
    ("quality", "Data quality", "/quality"),
)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def fmt_int(value: Any) -> str:
    return "–" if _missing(value) else f"{int(value):,}"


def fmt_num(value: Any, digits: int = 4) -> str:
    if _missing(value):
        return "–"
    value = float(value)
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.{digits}g}"


def fmt_pct(value: Any, signed: bool = False) -> str:
    if _missing(value):
        return "–"
    return f"{float(value) * 100:+.1f}%" if signed else f"{float(value) * 100:.1f}%"


def fmt_day(value: Any) -> str:
    if _missing(value):
        return "–"
    if isinstance(value, pd.Timestamp):
        value = value.date() if value == value.normalize() else value.to_pydatetime()
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def fmt_kpi(value: Any, unit: str) -> str:
    if _missing(value):
        return "–"
    if unit == "share":
        return fmt_pct(value)
    if unit == "score":
        return f"{float(value):+.2f}"
    return fmt_num(value, 3)


def duration(start: Any, end: Any) -> str:
    if _missing(start) or _missing(end):
        return "–"
    seconds = int((pd.Timestamp(end) - pd.Timestamp(start)).total_seconds())
    return (
        f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
        if seconds >= 3600
        else f"{seconds // 60}m {seconds % 60:02d}s"
    )


def records(frame: Any) -> list[dict[str, Any]]:
    if frame is None or (isinstance(frame, pd.DataFrame) and frame.empty):
        return []
    if isinstance(frame, list):
        return frame
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        int_=fmt_int,
        num=fmt_num,
        pct=fmt_pct,
        day=fmt_day,
        kpi=fmt_kpi,
        records=records,
        chart_title=chart_title,
        urlpart=lambda v: quote(str(v), safe=""),
    )
    env.globals.update(charts=charts, duration=duration, urlencode=urlencode, zip=zip, TABS=TABS)
    return env


_ENV = environment()


def render_view(
    view: str,
    loaded: Loaded | None,
    error: Unavailable | None,
    *,
    runs: list[dict[str, Any]],
    airflow_error: str | None,
    airflow_base: str,
    app_root: str,
    dag_id: str,
    warehouse_name: str,
    data_docs: str | None,
    charts: Charts | None,
    dbt_docs: bool,
    extra_query: dict[str, str] | None = None,
) -> str:
    day = loaded.day if loaded else None
    tab = {"check": "quality", "forecast_chart": "forecasts"}.get(view, view)
    return _ENV.get_template(f"{view}.html").render(
        view=view,
        tab=tab,
        ld=loaded,
        day=day,
        d=(loaded.data if loaded else {}),
        error=error,
        runs=runs,
        airflow_error=airflow_error,
        airflow=airflow_base,
        root=app_root,
        dag_id=dag_id,
        warehouse_name=warehouse_name,
        data_docs=data_docs,
        png_charts=charts,
        dbt_docs=dbt_docs,
        extra_query=extra_query or {},
        day_query=f"?as_of={day.isoformat()}" if day else "",
    )


def render_error(message: str, airflow_base: str, app_root: str) -> str:
    return _ENV.get_template("error.html").render(
        message=message,
        airflow=airflow_base,
        root=app_root,
        tab=None,
        ld=None,
        day=None,
        day_query="",
        view="error",
        error=None,
    )


def render_docs_index(days: list[date]) -> str:
    return _ENV.get_template("docs_index.html").render(days=days)
