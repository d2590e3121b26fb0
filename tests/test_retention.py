"""Retention: no label leakage, short-history fallback, consent, control arms, the
likelihoods, and run() against a temporary warehouse (idempotent per day)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from _fixtures.tables import write_table
from cx.errors import NothingToDo
from cx.models import retention as ret
from cx.models.retention import RetentionConfig, contactable, features_at, score_customers, target_list, transactions
from cx.models.retention._btyd import BgNbd, fit_bgnbd
from cx.models.retention._config import VERSION_LABEL_FREE
from cx.models.retention._features import FEATURES, day_number
from cx.models.retention._learned import training_set

# Small and quick: a 30-day horizon on ~300 customers and 240 days.
CFG = RetentionConfig(horizon_days=30, stack_cuts=2, stack_step_days=15, gbm_max_iter=40, bootstrap=40, min_class=5)
START = date(2024, 1, 1)


def synthetic_orders(n: int = 300, days: int = 240, seed: int = 3, lapse_share: float = 0.3) -> pd.DataFrame:
    """Customers buying at their own Poisson rate; a share stops for good at a random day."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(2.0, 1 / 40, n)  # about a purchase every 20 days on average
    lapse = np.where(rng.random(n) < lapse_share, rng.integers(20, days, n), days + 1)
    first = rng.integers(0, days // 3, n)
    rows = []
    for c in range(n):
        for d in range(first[c], min(lapse[c], days)):
            if d == first[c] or rng.random() < rate[c]:
                amount = round(float(rng.gamma(2.0, 20.0)), 2)
                returned = amount if rng.random() < 0.05 else 0.0
                rows.append((f"C{c:04d}", START + timedelta(days=int(d)), "delivered", amount, returned, True))
    return pd.DataFrame(
        rows, columns=["customer_id", "order_date", "status", "order_amount", "returned_amount", "is_purchase"]
    )


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    return synthetic_orders()


def _after(frame: pd.DataFrame, cut: date) -> pd.DataFrame:
    return frame.loc[pd.to_datetime(frame["order_date"]) > pd.Timestamp(cut)]


# --- leakage ---------------------------------------------------------------------------


def test_features_at_a_cut_ignore_everything_after_it(orders: pd.DataFrame) -> None:
    cut = START + timedelta(days=150)
    tx = transactions(orders)
    web = pd.DataFrame(
        {
            "customer_id": ["C0001", "C0002"],
            "day": [day_number(cut) - 3, day_number(cut) + 2],
            "views": [4, 9],
            "carts": [1, 5],
        }
    )
    texts = pd.DataFrame(
        {
            "customer_id": ["C0001", "C0002"],
            "day": [day_number(cut) - 10, day_number(cut) + 1],
            "source": ["ticket", "review"],
            "rating": [np.nan, 1.0],
            "sentiment_score": [-0.8, -0.9],
        }
    )
    full = features_at(tx, day_number(cut), web, texts)
    truncated = features_at(
        tx.loc[tx["day"] <= day_number(cut)],
        day_number(cut),
        web.loc[web["day"] <= day_number(cut)],
        texts.loc[texts["day"] <= day_number(cut)],
    )
    pd.testing.assert_frame_equal(full, truncated)
    assert full.loc["C0001", "web_views_30"] == 4 and full.loc["C0001", "tickets_90"] == 1
    assert full.loc["C0002", "web_views_30"] == 0 and np.isnan(full.loc["C0002", "avg_rating"])
    assert (full["recency_days"] >= 0).all() and set(FEATURES) <= set(full.columns)


@pytest.mark.slow
def test_training_never_uses_data_after_its_cuts(orders: pd.DataFrame) -> None:
    """The learned model's rows for cuts up to D - H: features from before each cut only.
    What happens after D - H without changing any label (cancelled orders, browsing,
    tickets, unhappy reviews) must not move a single feature."""
    today = START + timedelta(days=239)
    last_cut = day_number(today) - CFG.horizon_days
    tx = transactions(orders)
    base = training_set(tx, day_number(today), None, None, CFG)
    ids = orders["customer_id"].drop_duplicates().iloc[:50]
    later = [last_cut + 1 + i % CFG.horizon_days for i in range(len(ids))]
    noisy_orders = pd.concat(
        [
            orders,
            pd.DataFrame(
                {
                    "customer_id": ids.to_numpy(),
                    "order_date": [START + timedelta(days=d - day_number(START)) for d in later],
                    "status": "cancelled",
                    "order_amount": 99.0,
                    "returned_amount": 0.0,
                    "is_purchase": False,
                }
            ),
        ],
        ignore_index=True,
    )
    web = pd.DataFrame({"customer_id": ids.to_numpy(), "day": later, "views": 7, "carts": 2})
    texts = pd.DataFrame(
        {"customer_id": ids.to_numpy(), "day": later, "source": "ticket", "rating": np.nan, "sentiment_score": -1.0}
    )
    noisy = training_set(transactions(noisy_orders), day_number(today), web, texts, CFG)
    assert base is not None and noisy is not None and base.cuts == noisy.cuts
    assert max(base.cuts) == last_cut
    pd.testing.assert_frame_equal(base.outcomes, noisy.outcomes)  # nothing above is a label
    # Web and text columns are absent from the base (no such sources): compare the rest.
    same = [c for c in base.x.columns if not c.startswith(("web_", "avg_", "tickets"))]
    pd.testing.assert_frame_equal(base.x[same], noisy.x[same])
    # Every browsing day, ticket and review above came after the cuts: none is seen.
    seen = noisy.x[["web_views_30", "web_carts_30", "web_days_90", "tickets_90"]]
    assert (seen == 0).all().all()
    assert noisy.x[["web_recency_days", "avg_rating", "avg_sentiment"]].isna().all().all()


@pytest.mark.slow
def test_scores_do_not_depend_on_rows_after_the_run_day(orders: pd.DataFrame) -> None:
    today = START + timedelta(days=200)
    with_future = score_customers(transactions(orders), today, CFG)
    without = score_customers(
        transactions(orders.loc[pd.to_datetime(orders["order_date"]) <= pd.Timestamp(today)]), today, CFG
    )
    assert len(_after(orders, today))  # the fixture has a future to ignore
    pd.testing.assert_frame_equal(with_future.values, without.values)
    assert with_future.model_version == without.model_version


# --- the model path and the fallback --------------------------------------------------


def test_long_history_chooses_on_a_holdout_and_scores_every_buyer(orders: pd.DataFrame) -> None:
    today = START + timedelta(days=239)
    result = score_customers(transactions(orders), today, CFG)
    v = result.values
    assert not result.label_free and set(result.holdout) == {"learned", "btyd", "baseline"}
    assert len(v) == orders["customer_id"].nunique() and v["customer_id"].is_unique
    assert v["p_active"].between(0, 1).all() and np.allclose(v["churn_risk"], 1 - v["p_active"], atol=1e-4)
    assert (v["expected_orders"] >= v["p_active"] - 1e-3).all() and (v["expected_value"] >= 0).all()
    assert set(v["risk_band"]) <= {"low", "medium", "high"} and set(v["value_band"]) <= {"low", "medium", "high"}
    assert v["reasons"].str.len().gt(0).all() and not v["reasons"].str.contains("C0").any()  # no ids in words
    # Planted lapsers (rhythm stopped) carry more risk than the still active.
    silent = v.set_index("customer_id").loc[lambda f: f.index.isin(_lapsed_before(orders, today, 60))]
    assert silent["churn_risk"].mean() > v["churn_risk"].mean()
    assert result.holdout["btyd"]["auc"]["value"] > 0.6
    # model_runs keeps one value per model, metric and day (a published-table check).
    metrics = [m.metric for _, ms in ret._stage.run_rows(result) for m in ms]
    assert len(metrics) == len(set(metrics)) and "holdout_auc:btyd" in metrics


def test_learning_on_a_sample_still_scores_every_buyer(orders: pd.DataFrame) -> None:
    today = START + timedelta(days=239)
    result = score_customers(transactions(orders), today, replace(CFG, model_customers=150))
    assert len(result.values) == orders["customer_id"].nunique()  # all scored as of D
    assert result.details["holdout_customers"] <= 150  # learnt and judged on the sample


def _lapsed_before(orders: pd.DataFrame, today: date, days: int) -> pd.Index:
    last = orders.groupby("customer_id")["order_date"].max()
    return last.index[pd.to_datetime(last) < pd.Timestamp(today - timedelta(days=days))]


def test_short_history_falls_back_to_the_label_free_model_and_says_so(orders: pd.DataFrame) -> None:
    today = START + timedelta(days=50)  # < 2 x 30 days since the first purchase
    result = score_customers(transactions(orders), today, CFG)
    assert result.label_free and result.model_version == VERSION_LABEL_FREE
    assert (result.values["model_version"] == VERSION_LABEL_FREE).all()
    assert "shorter than twice the horizon" in result.details["label_free_reason"]
    assert result.values["p_active"].between(0, 1).all() and len(result.values) > 0
    runs = ret._stage.run_rows(result)
    assert [v for v, _ in runs] == [VERSION_LABEL_FREE]
    assert "label_free" in {m.metric for m in runs[0][1]}


def test_no_buyer_is_nothing_to_do() -> None:
    empty = synthetic_orders(n=5).iloc[:0]
    with pytest.raises(NothingToDo):
        score_customers(transactions(empty), START, CFG)


def test_bgnbd_recovers_its_parameters_and_its_closed_forms() -> None:
    """Simulated BG/NBD customers: the fit finds the parameters; P(any purchase) is a
    probability no larger than the expected count."""
    rng = np.random.default_rng(0)
    n, weeks = 3000, 52.0
    lam, p = rng.gamma(0.6, 1 / 4.0, n), rng.beta(0.8, 2.5, n)
    x, t_x = np.zeros(n), np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > weeks:
                break
            x[i], t_x[i] = x[i] + 1, t
            if rng.random() < p[i]:
                break
    fit = fit_bgnbd(pd.DataFrame({"x": x, "t_x": t_x * 7, "T": np.full(n, weeks * 7)}))
    assert fit.converged
    assert fit.r == pytest.approx(0.6, rel=0.2) and fit.a == pytest.approx(0.8, rel=0.3)
    model = BgNbd(0.6, 4.0, 0.8, 2.5, True)
    # Monte-Carlo reference values of this profile (x=3, t_x=30 weeks, T=52 weeks, 13 weeks ahead).
    args = (np.array([3.0]), np.array([210.0]), np.array([364.0]))
    assert model.expected(*args, 91)[0] == pytest.approx(0.379, abs=0.005)
    assert model.p_any(*args, 91)[0] == pytest.approx(0.255, abs=0.005)


# --- consent and the control group ----------------------------------------------------


def test_contactable_excludes_only_an_explicit_refusal() -> None:
    ids = pd.Series(["A", "B", "C", "D"])
    consent = pd.DataFrame(
        {"customer_id": ["A", "B", "C"], "marketing_consent": pd.array([True, False, None], dtype="boolean")}
    )
    assert contactable(ids, consent).tolist() == [True, False, True, True]
    assert contactable(ids, consent.drop(columns="marketing_consent")).tolist() == [True] * 4  # no such column yet
    assert contactable(ids, None).tolist() == [True] * 4


def test_target_list_ranks_value_at_risk_and_skips_refusals() -> None:
    values = pd.DataFrame(
        {
            "customer_id": ["A", "B", "C", "D"],
            "p_active": [0.2, 0.5, 0.9, 0.1],
            "churn_risk": [0.8, 0.5, 0.1, 0.9],
            "expected_value": [20.0, 50.0, 90.0, 0.0],
        }
    )
    consent = pd.DataFrame({"customer_id": ["B"], "marketing_consent": [False]})
    targets = target_list(values, consent, replace(CFG, targets_top_n=10))
    assert targets["customer_id"].tolist() == ["A", "C"]  # B refused, D has nothing at risk
    assert targets["rank"].tolist() == [1, 2] and targets["expected_value_at_risk"].tolist() == [80.0, 10.0]
    assert (targets["experiment"] == CFG.experiment).all()


def test_control_group_is_stable_and_seeded_by_the_experiment() -> None:
    ids = pd.Series([f"C{i:05d}" for i in range(4000)])
    first = ret.arms(ids, "save-1", 0.1)
    shuffled = ret.arms(ids.iloc[::-1].reset_index(drop=True), "save-1", 0.1)[::-1]
    assert (first == shuffled).all()  # the arm depends on the customer, not on the list
    assert (first == ret.arms(ids, "save-1", 0.1)).all()
    assert abs((first == "control").mean() - 0.1) < 0.02
    other = ret.arms(ids, "save-2", 0.1)
    assert (first != other).any()  # another experiment draws its own split
    # Growing the share only moves customers from treatment to control.
    wider = ret.arms(ids, "save-1", 0.2)
    assert (wider[first == "control"] == "control").all()


# --- run() against a temporary warehouse ----------------------------------------------


@pytest.mark.slow
def test_run_is_idempotent_per_day_and_reads_consent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, orders: pd.DataFrame
) -> None:
    path = tmp_path / "cx.duckdb"
    monkeypatch.setenv("CX_WAREHOUSE", str(path))
    monkeypatch.setenv("CX_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("CX_DUCKDB_THREADS", "1")
    monkeypatch.setenv("CX_RETENTION_HORIZON_DAYS", "30")
    monkeypatch.setenv("CX_RETENTION_TARGETS_TOP_N", "50")
    with pytest.raises(NothingToDo, match="fct_orders is missing"):
        ret.run(START)
    write_table(path, "marts.fct_orders", orders)
    customers = pd.DataFrame({"customer_id": sorted(orders["customer_id"].unique())})
    write_table(path, "marts.dim_customers", customers)  # no marketing_consent column: nobody excluded
    today = START + timedelta(days=120)
    when = pd.Timestamp(today) - pd.Timedelta(days=3)
    write_table(
        path,
        "marts.fct_interactions",
        pd.DataFrame(
            {
                "customer_id": ["C0001", "C0001", "C0002", "C0003"],
                "product_id": "P1",
                "interaction_type": ["product_view", "add_to_cart", "purchase", "product_view"],
                "occurred_at": [when, when, when, pd.Timestamp(today) + pd.Timedelta(days=1)],
                "rating": None,
            }
        ),
    )
    write_table(
        path,
        "marts.fct_texts",
        pd.DataFrame(
            {
                "text_id": ["R1", "T1"],
                "source": ["review", "ticket"],
                "customer_id": ["C0001", "C0002"],
                "created_at": [when, when],
                "rating": [2, None],
            }
        ),
    )
    write_table(
        path,
        "model_outputs.review_sentiment",
        pd.DataFrame({"review_id": ["R1"], "sentiment_score": [-0.5], "as_of_date": [today]}),
    )
    con = duckdb.connect(str(path))
    try:
        inputs = ret._stage._read(con, today)
    finally:
        con.close()
    assert inputs["web"][["views", "carts"]].sum().tolist() == [1, 1]  # the purchase and the next day's view left out
    texts = inputs["texts"].set_index("source")
    assert texts.loc["review", "sentiment_score"] == -0.5 and pd.isna(texts.loc["ticket", "sentiment_score"])
    assert inputs["consent"] is None
    first = ret.run(today)
    refused = customers.iloc[::2].assign(marketing_consent=False)
    write_table(path, "marts.dim_customers", pd.concat([refused, customers.iloc[1::2].assign(marketing_consent=None)]))
    second = ret.run(today)  # the same day again: replaces its partitions
    assert (
        first["rows"]
        == second["rows"]
        == orders.loc[pd.to_datetime(orders["order_date"]) <= pd.Timestamp(today), "customer_id"].nunique()
    )
    con = duckdb.connect(str(path))
    try:
        values = con.execute("select * from model_outputs.customer_value").df()
        targets = con.execute("select * from model_outputs.retention_targets").df()
        runs = con.execute("select * from model_outputs.model_runs where model = 'retention'").df()
    finally:
        con.close()
    assert len(values) == second["rows"] and (values["as_of_date"] == pd.Timestamp(today)).all()
    assert len(targets) == 50 and not targets["customer_id"].isin(refused["customer_id"]).any()
    assert runs.groupby(["model_version", "metric"]).size().max() == 1  # one copy of the day
    published = runs.loc[runs["model_version"] == second["model_version"]].set_index("metric")
    assert {"auc", "spearman", "top_decile_capture", "history_days"} <= set(published.index)
    assert published.loc["auc", "baseline_value"] > 0.5
    assert json.loads(published.loc["history_days", "details"])["horizon_days"] == 30
    assert (tmp_path / "artifacts" / "models" / "retention" / f"{today}.pkl").is_file()


# --- the generator's planted lapsers ----------------------------------------------------


def _landing_orders(root: Path) -> pd.DataFrame:
    """The generated orders, read plainly (headers vary in case and padding by design)."""
    frames = []
    for path in sorted(root.glob("orders/*/*")):
        readers = {
            ".csv": lambda p: pd.read_csv(p, dtype=str),
            ".jsonl": lambda p: pd.read_json(p, lines=True, dtype=str),
        }
        frame = readers.get(path.suffix, lambda p: pd.read_parquet(p).astype(str))(path)
        frame.columns = [c.strip().lower() for c in frame.columns]
        frames.append(frame[["customer_id", "ordered_at", "status"]])
    orders = pd.concat(frames, ignore_index=True)
    status = orders["status"].str.strip().str.lower()
    return orders.assign(
        order_date=pd.to_datetime(orders["ordered_at"], format="mixed").dt.normalize(),
        status=status,
        order_amount=1.0,
        returned_amount=0.0,
        is_purchase=status != "cancelled",
    )


@pytest.mark.slow
def test_the_generators_planted_lapsers_are_found_and_the_ranking_is_stable(tmp_path: Path) -> None:
    from cx.generate import generate
    from cx.generate.lapsers import ELIGIBLE_GROUPS
    from cx.models.retention._evaluation import auc, spearman

    days = 100
    manifest = generate(
        tmp_path, START, days=days, customers=1000, seed=5, defects=False, sources=["orders"], lapsers=0.15
    )
    truth = pd.read_csv(tmp_path / "_truth" / "lapsers.csv")
    assert manifest.events["planted_lapsers"]["customers"] == len(truth) > 20
    groups = pd.read_csv(tmp_path / "_truth" / "customer_groups.csv")
    peers = groups.loc[groups["group_name"].isin(ELIGIBLE_GROUPS), "customer_id"]
    tx = transactions(_landing_orders(tmp_path))
    scores = {}
    for day in (days - 2, days - 1):
        values = score_customers(tx, START + timedelta(days=day), CFG).values.set_index("customer_id")["churn_risk"]
        scores[day] = values
        values = values.loc[values.index.isin(peers)]
        assert auc(values.to_numpy(), values.index.isin(truth["customer_id"])) >= 0.85
    common = scores[days - 2].index.intersection(scores[days - 1].index)
    assert spearman(scores[days - 2].loc[common].to_numpy(), scores[days - 1].loc[common].to_numpy()) >= 0.9
