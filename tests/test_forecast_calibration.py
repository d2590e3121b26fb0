"""Forecast stage, the parts after the per-series fits (numpy only, fast): conformal
intervals and the coverage gate, the coherent revenue hierarchy, intermittent product
demand against the seasonal naive."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from cx.models import forecast as fc

AS_OF = date(2024, 3, 31)
SATURDAY = 5
SATURDAYS_CLOSED = fc.Calendar(weekdays=frozenset({SATURDAY}))


def _cfg(**overrides: object) -> fc.ForecastConfig:
    return fc.ForecastConfig(**{"horizon_days": 14, "folds": 2, "n_jobs": 1, "holiday_country": "", **overrides})


def _fold_frame(y: np.ndarray, yhat: np.ndarray, horizon: int, scale: float = 1.0) -> pd.DataFrame:
    """A backtest table as the stage keeps it: consecutive folds of ``horizon`` days."""
    n = len(y)
    ds = pd.date_range("2024-01-01", periods=n, freq="D")
    frame = pd.DataFrame({"fold": np.arange(n) // horizon, "ds": ds, "h": np.arange(n) % horizon + 1, "y": y})
    frame["open"], frame["scale"] = True, scale
    for name in fc.CANDIDATES:
        frame[name] = yhat
    for col in ("naive_lo80", "naive_lo95"):
        frame[col] = yhat - 1.0
    for col in ("naive_hi80", "naive_hi95"):
        frame[col] = yhat + 1.0
    return frame


def _result(name: str, y: np.ndarray, yhat: np.ndarray, horizon: int, future: np.ndarray) -> fc.SeriesForecast:
    forecast = pd.DataFrame(
        {
            "ds": pd.date_range("2025-01-01", periods=len(future)),
            "yhat": future,
            "yhat_lower": future,
            "yhat_upper": future,
        }
    )
    result = fc.SeriesForecast(name, "revenue", forecast, fc.VERSION_NAIVE, {}, "", {"chosen": "naive"})
    result.details["scale"] = "linear"
    result.fold_forecasts = _fold_frame(y, yhat, horizon)
    return result


def test_conformal_intervals_cover_their_nominal_share() -> None:
    """Exchangeable errors: calibrated on one sample, the 80% and 95% intervals cover
    80% and 95% of fresh days (within sampling noise), and cross-fitting says so."""
    rng = np.random.default_rng(11)
    horizon, n = 28, 28 * 40
    yhat = np.full(n, 100.0)
    y = yhat + rng.standard_t(4, n) * 10  # heavy tails: a normal interval would be wrong
    result = _result("total", y, yhat, horizon, np.full(horizon, 100.0))
    fc.calibrate(result, _cfg(horizon_days=horizon))
    fresh = 100.0 + rng.standard_t(4, (5000, horizon)) * 10
    band = result.forecast
    for level, lo, hi in ((0.8, "yhat_lower", "yhat_upper"), (0.95, "yhat_lower_95", "yhat_upper_95")):
        inside = ((fresh >= band[lo].to_numpy()) & (fresh <= band[hi].to_numpy())).mean()
        assert abs(inside - level) < 0.02, (level, inside)
        assert abs(result.intervals["published"][f"coverage_{round(level * 100)}"] - level) < 0.03
    rows = {m.metric: m for m in fc.run_metrics(result, 0.8, 0.05)}
    assert rows["coverage:revenue:total"].passed and rows["coverage95:revenue:total"].passed
    # The naive's +-1 band in this table is far too narrow: its WIS is worse.
    assert rows["wis:revenue:total"].value < rows["wis:revenue:total"].baseline_value


def test_gate_fails_when_coverage_is_off() -> None:
    """Errors that grow fold after fold (a shift the backtest cannot see coming): the
    cross-fitted coverage misses its nominal level and the coverage rows fail."""
    rng = np.random.default_rng(3)
    horizon = 14
    spread = np.repeat([1.0, 1.0, 10.0], horizon)
    y = 50 + rng.normal(0, 1, 3 * horizon) * spread
    result = _result("total", y, np.full(3 * horizon, 50.0), horizon, np.full(horizon, 50.0))
    fc.calibrate(result, _cfg(horizon_days=horizon))
    rows = {m.metric: m for m in fc.run_metrics(result, 0.8, 0.05)}
    assert rows["coverage:revenue:total"].passed is False
    assert abs(rows["coverage:revenue:total"].value - 0.8) > 0.05


def test_reconciliation_adds_up_exactly() -> None:
    rng = np.random.default_rng(5)
    base = rng.gamma(2.0, 50.0, (30, 4))  # total and three categories, not coherent
    errors = rng.normal(0, 1, (200, 4)) * [30, 10, 5, 2]
    cov = fc.shrunk_covariance(errors)
    assert np.all(np.linalg.eigvalsh(cov) > 0)
    for method in ("bottom_up", "mint_shrink"):
        out = fc.reconcile(base, method, cov)
        assert np.array_equal(out[:, 0], out[:, 1:].sum(axis=1)) and (out[:, 1:] >= 0).all()
    coherent = np.column_stack([base[:, 1:].sum(axis=1), base[:, 1:]])
    assert np.allclose(fc.reconcile(coherent, "mint_shrink", cov), coherent)  # a projection


def test_reconcile_results_chooses_by_backtest_and_calibrates_after() -> None:
    """The total's own forecast is biased; the categories are right. Reconciled, the
    published total is their sum on every day, intervals are put on afterwards."""
    rng = np.random.default_rng(8)
    horizon, n = 14, 42
    cats = [rng.gamma(5.0, 10.0, n) for _ in range(3)]
    y_total = np.sum(cats, axis=0)
    results = [_result("total", y_total, y_total * 1.3, horizon, np.full(horizon, 300.0))]
    for i, y in enumerate(cats):
        noisy = y + rng.normal(0, 2, n)
        results.append(_result(f"cat{i}", y, noisy, horizon, np.full(horizon, 50.0 + i)))
    info = fc.publishable(results, _cfg(horizon_days=horizon))
    assert info["method"] in ("bottom_up", "mint_shrink") and set(info["backtest_mase"]) == {"bottom_up", "mint_shrink"}
    total = results[0].forecast["yhat"].to_numpy()
    assert np.array_equal(total, np.sum([r.forecast["yhat"].to_numpy() for r in results[1:]], axis=0))
    biased = np.mean(np.abs(0.3 * y_total))
    assert results[0].intervals["mase_published"] < 0.2 * biased  # the bias is gone from the published total (scale 1)
    for r in results:
        assert r.details["reconciliation"] == info["method"]
        assert (r.forecast["yhat_lower_95"] <= r.forecast["yhat_lower"]).all()


def test_intermittent_methods_on_a_sparse_series() -> None:
    """Ten units every fifth day: the rate is 2 a day. Croston and TSB find it, SBA a
    little below (its bias correction), the seasonal naive only copies last week."""
    y = np.where(np.arange(140) % 5 == 0, 10.0, 0.0)[None, :]
    rates = fc._demand.rates(y, open_weekdays=7)
    assert rates["croston"][0] == pytest.approx(2.0, rel=0.01)
    assert rates["sba"][0] == pytest.approx(2.0 * 0.95, rel=0.01)
    # TSB's probability moves every day: over the five days of a cycle it averages the rate.
    tsb_phases = [fc._demand.tsb(y[:, : 136 + k])[0] for k in range(5)]
    assert np.mean(tsb_phases) == pytest.approx(2.0, rel=0.1)
    assert rates["adida"][0] == pytest.approx(2.0, rel=0.15)
    # Obsolescence: after a long silence TSB decays, Croston does not.
    dead = np.concatenate([y[0, :100], np.zeros(60)])[None, :]
    later = fc._demand.rates(dead, open_weekdays=7)
    assert later["tsb"][0] < 0.1 * later["croston"][0]


def test_product_demand_beats_the_seasonal_naive() -> None:
    """Poisson demand of 60 products, most of them intermittent, on a weekly pattern
    with Saturdays closed: the chosen methods beat the naive on RMSSE across products."""
    rng = np.random.default_rng(0)
    index = pd.date_range(end=pd.Timestamp(AS_OF), periods=200, freq="D")
    pattern = np.array([1.2, 1.0, 1.0, 1.1, 1.3, 0.0, 0.6])[index.day_of_week]
    rows = []
    for k in range(60):
        units = rng.poisson(rng.gamma(0.6, 1.0) * pattern)
        rows += [(d.date(), f"p{k:02d}", float(u), 3.0 * u) for d, u in zip(index, units, strict=True) if u > 0]
    lines = pd.DataFrame(rows, columns=["ds", "product_id", "units", "revenue"])
    out = fc.forecast_products(lines, AS_OF, SATURDAYS_CLOSED, fc.ProductConfig(top_n=40, horizon_days=14))
    metrics = {m.metric: m for m in out.metrics}
    rmsse = metrics["rmsse:units:products"]
    assert rmsse.passed and rmsse.value < 0.9 * rmsse.baseline_value
    assert out.forecast["product_id"].nunique() == 40 and len(out.forecast) == 40 * 14
    assert set(out.forecast["model_version"]) - {"snaive-v1"}  # per-product choice, recorded per row
    assert sum(out.summary["methods"].values()) == 40
    saturday = pd.to_datetime(out.forecast["ds"]).dt.day_of_week == SATURDAY
    assert (out.forecast.loc[saturday, ["yhat", "yhat_upper"]] == 0).all().all()
    # A revenue share keeps only the products that make it up.
    few = fc.forecast_products(lines, AS_OF, SATURDAYS_CLOSED, fc.ProductConfig(top_n=40, revenue_share=0.3))
    assert 0 < few.summary["products"] < 40


def test_cx_page_actuals_of_other_categories() -> None:
    """The page's actuals for 'other categories' are the categories not forecast on their own."""
    import duckdb

    from cx.ui.sections import forecasts

    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(
        "create table marts.fct_daily_sales as select * from (values "
        "(date '2024-04-01', 'total', 100.0, 5), (date '2024-04-01', 'garden', 60.0, 3), "
        "(date '2024-04-01', 'toys', 30.0, 2), (date '2024-04-01', 'books', 10.0, 1)) v(ds, series, revenue, orders)"
    )
    wanted = [("total", "revenue"), ("garden", "revenue"), (fc.OTHER_CATEGORIES, "revenue")]
    got = forecasts.actuals(con, wanted, date(2024, 4, 1), date(2024, 4, 2))
    assert dict(zip(got["series"], got["actual"], strict=True)) == {
        "total": 100.0,
        "garden": 60.0,
        fc.OTHER_CATEGORIES: 40.0,
    }
