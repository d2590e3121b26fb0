"""Forecast stage: closed days, closures and holidays, short histories, scale and
outliers, interval coverage on a known season, the baseline gate, charts and run()."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest

from cx.errors import NothingToDo
from cx.model_runs import metrics_frame
from cx.models import forecast as fc
from cx.models.forecast import naive_scale, score, seasonal_naive

pytestmark = pytest.mark.slow  # Prophet fits

AS_OF = date(2024, 3, 31)
SATURDAY = 5  # the UCI shop never trades on Saturdays
NO_CLOSURES = fc.Calendar()
SATURDAYS_CLOSED = fc.Calendar(weekdays=frozenset({SATURDAY}))


def _cfg(**overrides: object) -> fc.ForecastConfig:
    # Small and fast: 2 folds of 14 days, few interval samples, in-process.
    base = dict(horizon_days=14, folds=2, uncertainty_samples=100, n_jobs=1, holiday_country="")
    return fc.ForecastConfig(**{**base, **overrides})


def weekly_series(
    days: int, seed: int = 0, noise: float = 0.1, closed_saturday: bool = True, end: date = AS_OF
) -> pd.Series:
    """Known weekly pattern times log-normal noise, zero on Saturdays."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(end=pd.Timestamp(end), periods=days, freq="D")
    pattern = np.array([1.0, 1.2, 1.1, 1.3, 1.6, 0.0 if closed_saturday else 0.5, 0.7])
    y = 1000 * pattern[index.day_of_week] * np.exp(rng.normal(0, noise, days))
    return pd.Series(y, index=index)


def test_closed_weekday_detected_and_forecast_zero() -> None:
    y = weekly_series(120)
    y.iloc[-40] = 0.0  # a one-off closure on a trading day is not a closed weekday
    calendar = fc.shop_calendar(y, _cfg())
    assert calendar.weekdays == frozenset({SATURDAY})
    assert calendar.closures == frozenset({y.index[-40]})
    out = fc.forecast_series("total", "revenue", y, calendar, _cfg())
    saturdays = pd.DatetimeIndex(out.forecast["ds"]).day_of_week == SATURDAY
    assert saturdays.sum() == 2 and len(out.forecast) == 14
    assert (out.forecast.loc[saturdays, ["yhat", "yhat_lower", "yhat_upper"]] == 0).all().all()
    assert (out.forecast.loc[~saturdays, "yhat"] > 300).all()
    # Saturdays are not scored: every fold scores its 12 trading days only.
    assert len(out.details["folds"]) == 2 and out.details["scale"] == "log"


def test_closures_stay_out_of_the_fit() -> None:
    """A week of closure (zeros on trading days) must not drag the level down."""
    y = weekly_series(120, seed=3)
    y.iloc[-40:-26] = 0.0  # two weeks: too long for the outlier filter to catch
    calendar = fc.shop_calendar(y, _cfg())
    assert len(calendar.closures) == 12  # the two Saturdays were closed anyway
    closed, _ = fc.prophet_forecast(y, 14, calendar, frozenset(), _cfg())
    ignored, _ = fc.prophet_forecast(y, 14, SATURDAYS_CLOSED, frozenset(), _cfg())
    trading = pd.DatetimeIndex(closed["ds"]).day_of_week != SATURDAY
    expected = 1000 * np.array([1.0, 1.2, 1.1, 1.3, 1.6, 0.0, 0.7])[pd.DatetimeIndex(closed["ds"]).day_of_week]
    err_closed = np.abs(closed["yhat"] - expected)[trading].mean()
    err_ignored = np.abs(ignored["yhat"] - expected)[trading].mean()
    assert err_closed < 0.1 * 1000 < err_ignored


def test_holiday_closures_projected_from_history() -> None:
    """Closed on Christmas and Boxing Day last year (both on trading days): closed this
    year too; New Year's Day traded last year, so it stays open."""
    y = weekly_series(376, end=date(2024, 12, 10))
    for day in ("2023-12-25", "2023-12-26"):
        y.loc[pd.Timestamp(day)] = 0.0
    cfg = _cfg(horizon_days=28, holiday_country="GB")
    calendar = fc.shop_calendar(y, cfg)
    assert {pd.Timestamp("2023-12-25"), pd.Timestamp("2023-12-26")} <= calendar.closures
    closed = fc.holiday_closures(y, 28, calendar, "GB")
    assert closed == {pd.Timestamp("2024-12-25"), pd.Timestamp("2024-12-26")}
    naive = fc.baseline_forecast(y, calendar, cfg).set_index("ds")
    assert (naive.loc[sorted(closed), "yhat"] == 0).all()
    assert naive.loc[pd.Timestamp("2025-01-01"), "yhat"] > 0
    # Without a holiday calendar nothing is projected; backtests only know the past.
    assert fc.holiday_closures(y, 28, calendar, "") == frozenset()
    assert calendar.up_to(pd.Timestamp("2023-12-25")).closures == {pd.Timestamp("2023-12-25")}


def test_holiday_country_setting() -> None:
    assert fc.parse_holiday_country("GB") == ("GB", None)
    assert fc.parse_holiday_country("gb-eng") == ("GB", "ENG")
    assert fc.parse_holiday_country("") is None
    # England's calendar has Easter Monday, the UK-wide one does not.
    england = fc.holidays_in("GB-ENG", pd.Timestamp("2024-04-01"), pd.Timestamp("2024-04-01"))
    assert england == {pd.Timestamp("2024-04-01"): "Easter Monday"}
    assert fc.holidays_in("GB", pd.Timestamp("2024-04-01"), pd.Timestamp("2024-04-01")) == {}
    with pytest.raises(ValueError, match="CX_HOLIDAY_COUNTRY='XX'"):
        fc.ForecastConfig(holiday_country="XX")
    with pytest.raises(ValueError, match="CX_HOLIDAY_COUNTRY='GB-XYZ'"):
        fc.ForecastConfig(holiday_country="GB-XYZ")


def test_holidays_reach_prophet() -> None:
    """Sales dip on every GB bank holiday: with the calendar configured Prophet learns it
    (the outlier filter must not remove holidays) and forecasts Christmas lower."""
    y = weekly_series(400, seed=4, noise=0.05, closed_saturday=False, end=date(2024, 12, 20))
    gb = fc.holidays_in("GB", y.index[0], y.index[-1] + pd.Timedelta(days=28))
    for day in gb:
        if day in y.index:
            y.loc[day] *= 0.4
    calendar = fc.shop_calendar(y, _cfg())
    with_holidays, _ = fc.prophet_forecast(y, 14, calendar, frozenset(), _cfg(holiday_country="GB"))
    without, _ = fc.prophet_forecast(y, 14, calendar, frozenset(), _cfg())
    christmas = pd.Timestamp("2024-12-25")
    ratio_with = with_holidays.set_index("ds").loc[christmas, "yhat"] / without.set_index("ds").loc[christmas, "yhat"]
    assert ratio_with < 0.75


def test_short_history_fallbacks() -> None:
    tiny = weekly_series(5, closed_saturday=False)
    out = fc.forecast_series("total", "orders", tiny, NO_CLOSURES, _cfg())
    assert out.model_version == fc.VERSION_MEAN and "short history (5 days)" in out.reason
    assert len(out.forecast) == 14 and (out.forecast["yhat"] > 0).all()
    short = weekly_series(15)
    out = fc.forecast_series("total", "orders", short, SATURDAYS_CLOSED, _cfg())
    assert out.model_version == fc.VERSION_NAIVE and "short history (15 days)" in out.reason
    # Seasonal naive repeats last week's same weekday.
    last_week = short.iloc[-7:].to_numpy()
    assert np.allclose(out.forecast["yhat"].to_numpy()[:7], last_week)
    assert np.allclose(out.forecast["yhat"].to_numpy()[7:14], last_week)
    # Long enough for Prophet but too short for any backtest fold: the baseline.
    mid = weekly_series(30)
    out = fc.forecast_series("total", "revenue", mid, SATURDAYS_CLOSED, _cfg(min_train_days=28))
    assert out.model_version == fc.VERSION_NAIVE and "too few" in out.reason


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
    # A steadily growing series: every past error of the rule is +7, yet the point
    # forecast stays inside its interval.
    growing = pd.Series(np.arange(1.0, 43.0), index=pd.date_range("2024-01-01", periods=42))
    band = seasonal_naive(growing, 7, frozenset())
    assert (band["yhat_lower"] == band["yhat"]).all() and (band["yhat_upper"] == band["yhat"] + 7).all()
    # A closed weekday is neither in the scale nor in the score.
    s_closed = score(naive, actual, scale, frozenset({6}))  # 2024-01-28 is a Sunday
    assert s_closed["mae"] == pytest.approx(1 / 6)


def test_outliers_and_scale() -> None:
    y = weekly_series(84, seed=6, noise=0.05, closed_saturday=False)
    spiky = y.copy()
    spiky.iloc[40] *= 30  # a one-off bulk order
    spiky.iloc[60] = 1.0  # a glitch: nearly nothing recorded
    kept = fc.drop_outliers(spiky, z_max=4.0, window=15)
    assert set(spiky.index) - set(kept.index) == {spiky.index[40], spiky.index[60]}
    assert len(fc.drop_outliers(y, 4.0, 15)) == len(y)  # clean data loses nothing
    assert fc.choose_scale(y, 0.9) == "log"
    sparse = y.where(np.arange(len(y)) % 3 == 0, 0.0)  # a small category: sales every third day
    assert fc.choose_scale(sparse, 0.9) == "linear"
    out, scale = fc.prophet_forecast(sparse, 14, NO_CLOSURES, frozenset(), _cfg())
    assert scale == "linear" and (out[["yhat", "yhat_lower"]] >= 0).all().all()
    # The level of a sparse series (mean ~ a third of the weekly pattern) is kept on its own scale.
    assert out["yhat"].mean() == pytest.approx(sparse.mean(), rel=0.35)


@pytest.fixture(scope="module")
def weekly_result() -> tuple[fc.SeriesForecast, pd.Series]:
    y = weekly_series(182, seed=1, noise=0.15)
    history, future = y.iloc[:-14], y.iloc[-14:]
    return fc.forecast_series("total", "revenue", history, SATURDAYS_CLOSED, _cfg(folds=3)), future


def test_interval_coverage_on_known_weekly_season(weekly_result: tuple[fc.SeriesForecast, pd.Series]) -> None:
    """Log-normal noise around a fixed weekly pattern: the 80% intervals should cover
    roughly 80% of trading days, in the backtest and on the held-out fortnight."""
    result, future = weekly_result
    opened = future.index.day_of_week != SATURDAY
    prophet_cov = result.backtest["prophet"]["coverage"]
    print("backtest", json.dumps(result.backtest, indent=None), result.model_version)
    assert 0.65 <= prophet_cov <= 0.95
    fcst = result.forecast.set_index("ds").loc[future.index[opened]]
    inside = ((future[opened] >= fcst["yhat_lower"]) & (future[opened] <= fcst["yhat_upper"])).mean()
    assert 0.6 <= inside <= 1.0
    # Intervals are not absurdly wide: median width below +-40% of the level (noise sd 15%).
    width = ((fcst["yhat_upper"] - fcst["yhat_lower"]) / fcst["yhat"]).median()
    assert width < 0.8
    # With a stable season and noise, Prophet should beat "same day last week".
    assert result.backtest["prophet"]["mase"] < result.backtest["naive"]["mase"]
    assert result.model_version in (fc.VERSION_PROPHET["log"], fc.VERSION_BLEND)
    assert len(result.details["folds"]) == 3


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
    out = fc.forecast_series("total", "revenue", y, NO_CLOSURES, _cfg(horizon_days=7, folds=3))
    print("backtest", out.backtest)
    assert out.model_version == fc.VERSION_NAIVE
    assert "not beaten" in out.reason and "baseline published" in out.reason
    rows = fc.run_metrics(out, 0.8)
    mase = rows[0]
    assert mase.metric == "mase:revenue:total" and mase.passed is False
    assert mase.value == pytest.approx(mase.baseline_value)
    assert set(mase.details["backtest"]) == {"naive", "prophet", "blend"}


def test_forecast_all_in_parallel_keeps_order() -> None:
    series = {(f"cat{i}", "revenue"): weekly_series(10 + i, seed=i) for i in range(4)}
    out = fc.forecast_all(series, SATURDAYS_CLOSED, _cfg(n_jobs=2))
    assert [(r.series, len(r.forecast)) for r in out] == [(f"cat{i}", 14) for i in range(4)]
    sequential = fc.forecast_all(series, SATURDAYS_CLOSED, _cfg(n_jobs=1))
    for a, b in zip(out, sequential, strict=True):
        pd.testing.assert_frame_equal(a.forecast, b.forecast)


def test_charts_replace_the_days_folder(tmp_path) -> None:
    day = tmp_path / "charts" / "2024-03-31"
    day.mkdir(parents=True)
    (day / "old_series_revenue.png").write_bytes(b"stale")
    y = weekly_series(15)
    results = [fc.forecast_series("home & garden", "revenue", y, SATURDAYS_CLOSED, _cfg())]
    written = fc.write_charts(results, {("home & garden", "revenue"): y}, day, _cfg())
    assert [p.name for p in written] == ["home_garden_revenue.png"]
    assert sorted(p.name for p in day.parent.iterdir()) == ["2024-03-31"]  # no staging dirs left
    assert written[0].read_bytes()[:4] == b"\x89PNG"


def _sales_frame(days: int = 140) -> pd.DataFrame:
    y = weekly_series(days, seed=2, noise=0.1)
    rows = []
    for ds, value in y.items():
        if value <= 0:
            continue  # closed days are absent in the mart
        rows.append(
            {"ds": ds.date(), "series": "total", "revenue": value, "orders": int(value / 50), "units": value / 5}
        )
        for share, cat in ((0.6, "garden"), (0.3, "kitchen"), (0.1, "toys")):
            rows.append(
                {
                    "ds": ds.date(),
                    "series": cat,
                    "revenue": value * share,
                    "orders": int(value * share / 50),
                    "units": value * share / 5,
                }
            )
    # A future day that the as_of run must not see.
    rows.append({"ds": date(2024, 4, 2), "series": "total", "revenue": 1e9, "orders": 1, "units": 1.0})
    return pd.DataFrame(rows)


def test_run_writes_forecasts_runs_and_charts(tmp_path, monkeypatch) -> None:
    wh = tmp_path / "cx.duckdb"
    monkeypatch.setenv("CX_WAREHOUSE", str(wh))
    monkeypatch.setenv("CX_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("CX_FORECAST_HORIZON_DAYS", "14")
    monkeypatch.setenv("CX_FORECAST_TOP_CATEGORIES", "2")
    monkeypatch.setenv("CX_HOLIDAY_COUNTRY", "GB-ENG")
    con = duckdb.connect(str(wh))
    con.execute("create schema marts")
    con.register("f", _sales_frame())
    con.execute("create table marts.fct_daily_sales as select * from f")
    _order_lines(con)
    con.close()

    summary = fc.run(AS_OF)
    print(summary)
    assert summary["series"] == 5 and summary["closed_weekdays"] == [SATURDAY]
    again = fc.run(AS_OF)  # idempotent: the day's partitions replaced, not appended
    assert again["rows"] == summary["rows"] and again["product_demand"] == {
        **summary["product_demand"],
        "seconds": again["product_demand"]["seconds"],
    }
    con = duckdb.connect(str(wh))
    out = con.execute("select * from model_outputs.sales_forecast").df()
    runs = con.execute("select * from model_outputs.model_runs where model = 'forecast'").df()
    products = con.execute("select * from model_outputs.product_demand_forecast").df()
    con.close()
    assert len(out) == summary["rows"] == 5 * 14 and runs["metric"].is_unique
    assert set(zip(out["series"], out["metric"], strict=False)) == {
        ("total", "revenue"),
        ("total", "orders"),
        ("garden", "revenue"),
        ("kitchen", "revenue"),
        (fc.OTHER_CATEGORIES, "revenue"),
    }
    revenue = out.loc[out["metric"] == "revenue"].pivot(index="ds", columns="series", values="yhat")
    assert np.allclose(revenue["total"], revenue.drop(columns="total").sum(axis=1), rtol=1e-12, atol=0)
    assert (out["yhat_lower_95"] <= out["yhat_lower"]).all() and (out["yhat_upper"] <= out["yhat_upper_95"]).all()
    assert {"coverage95:revenue:total", "wis:revenue:total", "rmsse:units:products"} <= set(runs["metric"])
    assert list(products.columns) == [*fc.PRODUCT_COLUMNS, "as_of_date"]
    assert products.groupby("product_id").size().eq(14).all() and products["product_id"].nunique() == 12
    assert (products["yhat_lower"] <= products["yhat"]).all() and (products["yhat"] >= 0).all()
    assert out.groupby(["series", "metric"]).size().eq(14).all()
    assert pd.to_datetime(out["ds"]).min() == pd.Timestamp("2024-04-01")
    assert (out["yhat_lower"] <= out["yhat"]).all() and (out["yhat"] <= out["yhat_upper"]).all()
    assert out["yhat"].max() < 1e6  # the future 1e9 day was not read
    saturdays = pd.to_datetime(out["ds"]).dt.day_of_week == SATURDAY
    assert (out.loc[saturdays, "yhat_upper"] == 0).all()
    assert set(out["as_of_date"].astype(str)) == {str(AS_OF)}
    assert {"mase:revenue:total", "mase:orders:total", "coverage:revenue:garden"} <= set(runs["metric"])
    mase = runs.loc[runs["metric"].str.startswith("mase:")]
    assert mase["value"].notna().all() and mase["baseline_value"].notna().all()
    details = json.loads(runs.loc[runs["metric"] == "mase:revenue:total", "details"].iloc[0])
    assert len(details["folds"]) == 3 and {"naive", "prophet", "blend"} <= set(details["folds"][0])
    charts = sorted(p.name for p in (tmp_path / "artifacts" / "charts" / str(AS_OF)).iterdir())
    assert charts == [
        "garden_revenue.png",
        "kitchen_revenue.png",
        "other_categories_revenue.png",
        "total_orders.png",
        "total_revenue.png",
    ]


def _order_lines(con: duckdb.DuckDBPyConnection, products: int = 12) -> None:
    """fct_orders and int_order_items for the product stage: product k sells on every
    k-th trading day (an intermittent tail), one order per product and day."""
    y = weekly_series(140, seed=2)
    rows = [
        (f"o{d}-{k}", ds.date(), f"p{k:02d}", 1 + (d + k) % 3)
        for d, ds in enumerate(y.index)
        if y.iloc[d] > 0
        for k in range(1, products + 1)
        if d % k == 0
    ]
    frame = pd.DataFrame(rows, columns=["order_id", "order_date", "product_id", "quantity"])
    con.register("lines", frame.assign(status="completed", unit_price=2.5))
    con.execute("create table marts.fct_orders as select order_id, order_date, status from lines")
    con.execute("create schema intermediate")
    con.execute(
        "create table intermediate.int_order_items as select order_id, product_id, quantity, unit_price from lines"
    )
    con.unregister("lines")


def test_run_skips_without_sales(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CX_WAREHOUSE", str(tmp_path / "cx.duckdb"))
    monkeypatch.setenv("CX_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    with pytest.raises(NothingToDo, match="marts.fct_daily_sales missing"):
        fc.run(AS_OF)
    con = duckdb.connect(str(tmp_path / "cx.duckdb"))
    con.execute("create schema marts")
    con.execute("create table marts.fct_daily_sales (ds date, series varchar, revenue double, orders bigint)")
    con.close()
    with pytest.raises(NothingToDo, match=f"no daily sales up to {AS_OF}"):
        fc.run(AS_OF)
    con = duckdb.connect(str(tmp_path / "cx.duckdb"))
    assert (
        con.execute("select count(*) from information_schema.tables where table_schema = 'model_outputs'").fetchone()[0]
        == 0
    )  # nothing written for a day with nothing to do
    con.close()


# ---------------------------------------------------------------------------- reproducibility


def test_series_whatever_the_row_order() -> None:
    sales = _sales_frame()
    sales = sales.loc[sales["series"] != "total"]  # the total derived by summing the categories
    expected = fc.build_series(sales, AS_OF, top_categories=2)
    for seed in range(3):
        got = fc.build_series(sales.sample(frac=1.0, random_state=seed), AS_OF, top_categories=2)
        assert list(got) == list(expected)
        for key, values in expected.items():
            pd.testing.assert_series_equal(got[key], values, check_exact=True)


def test_refit_publishes_identical_rows_without_wall_clock_facts() -> None:
    """Two fits of the same series publish the same forecast and model_runs rows: the
    seconds a fit took are logged (``timing``), never published in the details."""
    y = weekly_series(70, seed=3)
    runs = [fc.forecast_series("total", "revenue", y, SATURDAYS_CLOSED, _cfg()) for _ in range(2)]
    pd.testing.assert_frame_equal(runs[0].forecast, runs[1].forecast, check_exact=True)
    published = [metrics_frame("forecast", r.model_version, fc.run_metrics(r, 0.8)) for r in runs]
    pd.testing.assert_frame_equal(published[0], published[1], check_exact=True)
    assert "seconds" not in published[0]["details"].str.cat() and runs[0].timing["seconds"] >= 0
