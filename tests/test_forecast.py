"""Forecast stage: closed days, short histories, intervals, the baseline gate and run()."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest

from cx.models import forecast as fc
from cx.models.forecast_backtest import naive_scale, score, seasonal_naive

AS_OF = date(2024, 3, 31)
SUNDAY = 6


def _cfg(**overrides: object) -> fc.ForecastConfig:
    # Small and fast: 2 folds of 14 days, few interval samples, in-process.
    base = dict(horizon_days=14, folds=2, uncertainty_samples=100, n_jobs=1, holiday_country="")
    return fc.ForecastConfig(**{**base, **overrides})


def weekly_series(days: int, seed: int = 0, noise: float = 0.1, closed_sunday: bool = True) -> pd.Series:
    """Known weekly pattern times multiplicative noise, zero on Sundays."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(end=pd.Timestamp(AS_OF), periods=days, freq="D")
    pattern = np.array([1.0, 1.2, 1.1, 1.3, 1.6, 0.7, 0.0 if closed_sunday else 0.5])
    y = 1000 * pattern[index.day_of_week] * np.exp(rng.normal(0, noise, days))
    return pd.Series(y, index=index)


def test_closed_weekdays_detected_and_forecast_zero() -> None:
    y = weekly_series(120)
    closed = fc.closed_weekdays(y, 0.05)
    assert closed == frozenset({SUNDAY})
    out = fc.forecast_series("total", "revenue", y, closed, _cfg())
    sundays = pd.DatetimeIndex(out.forecast["ds"]).day_of_week == SUNDAY
    assert sundays.any()
    assert (out.forecast.loc[sundays, ["yhat", "yhat_lower", "yhat_upper"]] == 0).all().all()
    assert (out.forecast.loc[~sundays, "yhat"] > 0).all()
    assert len(out.forecast) == 14


def test_short_history_fallbacks() -> None:
    tiny = weekly_series(5, closed_sunday=False)
    out = fc.forecast_series("total", "orders", tiny, frozenset(), _cfg())
    assert out.model_version == fc.VERSION_MEAN and "short history" in out.reason
    short = weekly_series(15)
    out = fc.forecast_series("total", "orders", short, frozenset({SUNDAY}), _cfg())
    assert out.model_version == fc.VERSION_NAIVE and "short history" in out.reason
    # Seasonal naive repeats last week's same weekday.
    last_week = short.iloc[-7:].to_numpy()
    assert np.allclose(out.forecast["yhat"].to_numpy()[:7], last_week)


def test_seasonal_naive_intervals_and_mase_by_hand() -> None:
    idx = pd.date_range("2024-01-01", periods=21, freq="D")
    y = pd.Series(np.tile([1.0, 2, 3, 4, 5, 6, 7], 3), index=idx)
    naive = seasonal_naive(y, 7, frozenset())
    assert np.allclose(naive["yhat"], [1, 2, 3, 4, 5, 6, 7])
    assert np.allclose(naive["yhat_lower"], naive["yhat"]) and np.allclose(naive["yhat_upper"], naive["yhat"])
    actual = pd.Series([2.0, 2, 3, 4, 5, 6, 9], index=pd.date_range("2024-01-22", periods=7))
    scale = naive_scale(pd.Series([1.0, 1, 1, 1, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1], index=idx[:14]), frozenset())
    assert scale == pytest.approx(4 / 7)
    s = score(naive, actual, scale, frozenset())
    assert s["mae"] == pytest.approx(3 / 7)
    assert s["mase"] == pytest.approx((3 / 7) / (4 / 7))
    assert s["coverage"] == pytest.approx(5 / 7)


@pytest.fixture(scope="module")
def weekly_result() -> tuple[fc.SeriesForecast, pd.Series]:
    y = weekly_series(182, seed=1, noise=0.15)
    history, future = y.iloc[:-14], y.iloc[-14:]
    return fc.forecast_series("total", "revenue", history, frozenset({SUNDAY}), _cfg(folds=3)), future


def test_interval_coverage_on_known_weekly_season(weekly_result: tuple[fc.SeriesForecast, pd.Series]) -> None:
    result, future = weekly_result
    opened = future.index.day_of_week != SUNDAY
    prophet_cov = result.backtest["prophet"]["coverage"]
    print("backtest", json.dumps(result.backtest, indent=None), result.model_version)
    assert 0.6 <= prophet_cov <= 0.98
    # On held-out future days the published forecast covers sensibly too.
    fcst = result.forecast.set_index("ds").loc[future.index[opened]]
    inside = ((future[opened] >= fcst["yhat_lower"]) & (future[opened] <= fcst["yhat_upper"])).mean()
    assert 0.5 <= inside <= 1.0
    # With a stable season and noise, Prophet should beat "same day last week".
    assert result.backtest["prophet"]["mase"] < result.backtest["naive"]["mase"]
    assert result.model_version in (fc.VERSION_PROPHET, fc.VERSION_BLEND)


def test_choose_model_gate() -> None:
    naive = {"mase": 1.0, "mae": 10.0, "coverage": 0.8}
    assert fc.choose_model({"naive": naive, "prophet": {"mase": 0.9}, "blend": {"mase": 0.95}})[0] == "prophet"
    assert fc.choose_model({"naive": naive, "prophet": {"mase": 1.2}, "blend": {"mase": 0.99}})[0] == "blend"
    assert fc.choose_model({"naive": naive, "prophet": {"mase": 1.0}, "blend": {"mase": 1.1}})[0] == "naive"


def test_gate_publishes_baseline_when_prophet_loses() -> None:
    """Weekly level jumps (a seasonal random walk): last week is the best guess of this
    week, a smooth trend lags behind, so the baseline is published."""
    idx = pd.date_range(end=pd.Timestamp(AS_OF), periods=126, freq="D")
    rng = np.random.default_rng(5)
    level = np.repeat(np.exp(np.cumsum(rng.normal(0, 0.5, 18))), 7)
    pattern = np.array([1.0, 1.5, 0.7, 1.2, 2.0, 0.5, 0.9])[idx.day_of_week]
    y = pd.Series(1000 * level * pattern * np.exp(rng.normal(0, 0.02, 126)), index=idx)
    out = fc.forecast_series("total", "revenue", y, frozenset(), _cfg(horizon_days=7, folds=3))
    print("backtest", out.backtest)
    assert out.model_version == fc.VERSION_NAIVE
    assert "not beaten" in out.reason
    rows = fc.run_metrics(out, 0.8)
    mase = rows[0]
    assert mase.metric == "mase:revenue:total" and mase.passed is False
    assert mase.value == pytest.approx(mase.baseline_value)


def _sales_frame(days: int = 140) -> pd.DataFrame:
    y = weekly_series(days, seed=2, noise=0.1)
    rows = []
    for ds, value in y.items():
        if value <= 0:
            continue  # closed days are absent in the mart
        rows.append({"ds": ds.date(), "series": "total", "revenue": value, "orders": int(value / 50), "units": value / 5})
        for share, cat in ((0.6, "garden"), (0.3, "kitchen"), (0.1, "toys")):
            rows.append({"ds": ds.date(), "series": cat, "revenue": value * share, "orders": int(value * share / 50),
                         "units": value * share / 5})
    # A future day that the as_of run must not see.
    rows.append({"ds": date(2024, 4, 2), "series": "total", "revenue": 1e9, "orders": 1, "units": 1.0})
    return pd.DataFrame(rows)


def test_run_writes_forecasts_runs_and_charts(tmp_path, monkeypatch) -> None:
    import time

    wh = tmp_path / "cx.duckdb"
    monkeypatch.setenv("CX_WAREHOUSE", str(wh))
    monkeypatch.setenv("CX_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("CX_FORECAST_HORIZON_DAYS", "14")
    monkeypatch.setenv("CX_FORECAST_TOP_CATEGORIES", "2")
    con = duckdb.connect(str(wh))
    con.execute("create schema marts")
    con.register("f", _sales_frame())
    con.execute("create table marts.fct_daily_sales as select * from f")
    con.close()

    started = time.monotonic()
    summary = fc.run(AS_OF)
    print("run seconds", round(time.monotonic() - started, 2), summary)
    assert summary["series"] == 4 and summary["closed_weekdays"] == [SUNDAY]
    con = duckdb.connect(str(wh))
    out = con.execute("select * from main.sales_forecast").df()
    runs = con.execute("select * from main.model_runs where model = 'forecast'").df()
    con.close()
    assert set(zip(out["series"], out["metric"])) == {
        ("total", "revenue"), ("total", "orders"), ("garden", "revenue"), ("kitchen", "revenue")}
    assert out.groupby(["series", "metric"]).size().eq(14).all()
    assert pd.to_datetime(out["ds"]).min() == pd.Timestamp("2024-04-01")
    assert (out["yhat_lower"] <= out["yhat"]).all() and (out["yhat"] <= out["yhat_upper"]).all()
    assert out["yhat"].max() < 1e6  # the future 1e9 day was not read
    assert set(out["as_of_date"].astype(str)) == {str(AS_OF)}
    assert {"mase:revenue:total", "mase:orders:total", "coverage:revenue:garden"} <= set(runs["metric"])
    mase = runs.loc[runs["metric"].str.startswith("mase:")]
    assert mase["value"].notna().all() and mase["baseline_value"].notna().all()
    for name in ("total_revenue", "total_orders", "garden_revenue", "kitchen_revenue"):
        assert (tmp_path / "artifacts" / "charts" / str(AS_OF) / f"{name}.png").stat().st_size > 1000


def test_run_skips_without_sales(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CX_WAREHOUSE", str(tmp_path / "cx.duckdb"))
    monkeypatch.setenv("CX_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    assert "skipped" in fc.run(AS_OF)
