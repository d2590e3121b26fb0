"""Segmentation: units on tiny frames, planted groups, day-to-day identity, missing sources, run()."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from cx.models import segmentation as seg
from cx.models.segmentation import SegmentationConfig, segment_customers

CFG = SegmentationConfig(n_init=4)


def _lognormal(rng: np.random.Generator, median: float, n: int, sigma: float = 0.25) -> np.ndarray:
    return median * np.exp(rng.normal(0.0, sigma, n))


# Behavioural archetypes: (recency, frequency, monetary, tenure, basket, diversity, web, abandon, returns)
GROUPS: dict[str, tuple] = {
    "champions": (8, 30, 3000, 900, 100, 8, 150, 0.1, 0.02),
    "lapsed": (300, 2, 60, 700, 30, 1, 4, 0.5, 0.10),
    "new": (10, 1, 50, 15, 50, 1, 10, 0.3, 0.0),
    "browsers": (None, 0, 0, 300, None, 0, 90, 0.9, None),
    "small baskets": (25, 15, 250, 600, 17, 4, 50, 0.2, 0.05),
}


def planted_features(n_per_group: int = 300, seed: int = 0, prefix: str = "C") -> tuple[pd.DataFrame, np.ndarray]:
    """Synthetic customer_features from well-separated behavioural groups (+ truth labels)."""
    rng = np.random.default_rng(seed)
    frames, truth = [], []
    for g, (rec, freq, mon, ten, basket, div, web, abandon, ret) in enumerate(GROUPS.values()):
        n = n_per_group
        frame = pd.DataFrame({
            "recency_days": np.full(n, np.nan) if rec is None else np.round(_lognormal(rng, rec, n)),
            "frequency": np.zeros(n) if freq == 0 else np.maximum(1, np.round(_lognormal(rng, freq, n, 0.15))),
            "monetary": np.zeros(n) if mon == 0 else _lognormal(rng, mon, n),
            "tenure_days": np.round(_lognormal(rng, ten, n, 0.2)),
            "avg_basket_size": np.full(n, np.nan) if basket is None else _lognormal(rng, basket, n, 0.15),
            "category_diversity": np.zeros(n) if div == 0 else np.maximum(1, np.round(_lognormal(rng, div, n, 0.15))),
            "web_sessions": np.round(_lognormal(rng, web, n, 0.25)),
            "cart_abandonment_rate": np.clip(abandon + rng.normal(0, 0.05, n), 0, 1),
            "return_rate": np.full(n, np.nan) if ret is None else np.clip(ret + rng.normal(0, 0.01, n), 0, 1),
        })
        frames.append(frame)
        truth.append(np.full(n, g))
    features = pd.concat(frames, ignore_index=True)
    features.insert(0, "customer_id", [f"{prefix}{i:05d}" for i in range(len(features))])
    features["region"] = "north"
    features["country"] = "GB"
    features["age_band"] = "25-34"
    features["as_of_date"] = date(2024, 1, 1)
    return features, np.concatenate(truth)


@pytest.fixture(scope="module")
def planted() -> tuple[pd.DataFrame, np.ndarray, seg.SegmentationResult]:
    features, truth = planted_features()
    return features, truth, segment_customers(features, CFG)


def tiny() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ["a", "b", "c", "d", "e", "f"],
        "recency_days": [5, 7, 400, 380, None, 6],
        "frequency": [20, 25, 1, 2, 0, 22],
        "monetary": [900.0, 1100.0, 20.0, 35.0, 0.0, 1000.0],
        "tenure_days": [800, 900, 500, 450, 60, 850],
        "web_sessions": [None] * 6,
        "cart_abandonment_rate": [0.1, None, 0.5, 0.4, None, 0.2],
        "return_rate": [0.0] * 6,
    })


def test_imputation_and_dropping_on_tiny_frame() -> None:
    raw = seg._raw_features(tiny())
    imputed, dropped = seg._impute(raw)
    # never ordered -> recency = tenure
    assert imputed.loc[4, "recency_days"] == 60
    assert dropped["web_sessions"] == "all missing"
    assert dropped["avg_sentiment"] == "all missing"
    assert dropped["return_rate"] == "constant"
    # no carts -> population median, not 0 (absence must not look like a perfect converter)
    assert imputed.loc[1, "cart_abandonment_rate"] == pytest.approx(0.3)
    assert not imputed.isna().any().any()


def test_tiny_frame_segments_every_customer() -> None:
    result = segment_customers(tiny(), CFG)
    a = result.assignments
    assert list(a["customer_id"]) == ["a", "b", "c", "d", "e", "f"]
    assert a["segment_id"].dtype == "int32"
    assert a["segment_name"].notna().all()
    assert 2 <= result.metrics["k"] <= 5
    # the frequent big spenders share a cluster, the lapsed pair another
    assert a.loc[0, "segment_id"] == a.loc[1, "segment_id"] == a.loc[5, "segment_id"]
    assert a.loc[2, "segment_id"] == a.loc[3, "segment_id"] != a.loc[0, "segment_id"]
    names = result.profiles["segment_name"]
    assert names.is_unique
    # output keeps raw values: NULL stays NULL
    assert pd.isna(a.loc[4, "recency_days"])
    assert set(seg.FEATURES) <= set(a.columns)


def test_degenerate_frames() -> None:
    three = tiny().iloc[:3]
    assert len(segment_customers(three, CFG).assignments) == 3
    same = pd.DataFrame({"customer_id": ["x", "y"], "frequency": [1, 1], "monetary": [5.0, 5.0]})
    result = segment_customers(same, CFG)
    assert result.metrics["k"] == 1 and result.assignments["segment_id"].nunique() == 1
    empty = segment_customers(tiny().iloc[:0], CFG)
    assert empty.assignments.empty


def test_unique_names_get_qualifiers() -> None:
    centers = np.array([[0.0, 2.0], [0.0, -2.0], [1.0, 0.0]])
    names = seg._unique_names({0: "loyal", 1: "loyal", 2: "new"}, {}, centers, ["recency_days", "monetary"])
    assert names == {0: "loyal (high spend)", 1: "loyal (low spend)", 2: "new"}
    # a kept name wins; a newcomer with the same rule-name is qualified
    names = seg._unique_names({0: "loyal", 1: "loyal", 2: "new"}, {0: "loyal"}, centers, ["recency_days", "monetary"])
    assert names[0] == "loyal" and names[1].startswith("loyal (") and len(set(names.values())) == 3


def test_base_name_rules() -> None:
    cfg = SegmentationConfig()
    pct_high = {"recency_days": 0.2, "frequency": 0.9, "monetary": 0.9, "tenure_days": 0.8}
    assert seg._base_name({"frequency": 20.0}, pct_high, cfg) == "champions"
    lapsed = {"recency_days": 0.9, "frequency": 0.8, "monetary": 0.5, "tenure_days": 0.8}
    assert seg._base_name({"frequency": 5.0}, lapsed, cfg) == "at risk"
    browse = {"web_sessions": 0.9, "frequency": 0.1, "tenure_days": 0.5}
    assert seg._base_name({"frequency": 0.0, "cart_abandonment_rate": 0.2}, browse, cfg) == "browsers"
    assert seg._base_name({"frequency": 2.0}, {"tenure_days": 0.05}, cfg) == "new"


def test_planted_groups_are_recovered(planted) -> None:
    features, truth, result = planted
    ari = adjusted_rand_score(truth, result.assignments["segment_id"])
    print(f"planted groups: ARI={ari:.3f} k={result.metrics['k']} silhouette={result.metrics['silhouette']:.3f}"
          f" names={result.metrics['sizes']}")
    assert ari >= 0.8
    assert result.metrics["k"] == len(GROUPS)
    assert result.profiles["segment_name"].is_unique
    by_group = pd.Series(result.assignments["segment_name"].to_numpy()).groupby(truth).agg(lambda s: s.mode()[0])
    assert by_group[0] == "champions"
    assert by_group[2] == "new"
    assert by_group[3] in {"browsers", "cart abandoners"}


def test_identity_is_stable_day_to_day(planted) -> None:
    features, truth, first = planted
    rng = np.random.default_rng(7)
    today = features.copy()
    for col in ("monetary", "web_sessions", "avg_basket_size"):
        today[col] = today[col] * np.exp(rng.normal(0, 0.05, len(today)))
    # some customers leave, a few new ones arrive
    keep = rng.random(len(today)) > 0.05
    newcomers, _ = planted_features(n_per_group=4, seed=99, prefix="N")
    today = pd.concat([today.loc[keep], newcomers], ignore_index=True)
    second = segment_customers(today, CFG, previous=first.assignments)

    merged = first.assignments.merge(second.assignments, on="customer_id", suffixes=("_1", "_2"))
    assert (merged["segment_id_1"] == merged["segment_id_2"]).mean() >= 0.95
    assert (merged["segment_name_1"] == merged["segment_name_2"]).mean() >= 0.95
    pairs_1 = set(first.profiles[["segment_id", "segment_name"]].itertuples(index=False, name=None))
    pairs_2 = set(second.profiles[["segment_id", "segment_name"]].itertuples(index=False, name=None))
    assert pairs_1 == pairs_2
    assert second.metrics["stability"] >= 0.95


def test_unmatched_cluster_gets_a_new_id(planted) -> None:
    features, truth, first = planted
    # yesterday only knew four groups under other ids: the fifth cluster is new today
    previous = first.assignments.loc[truth != 4].assign(segment_id=lambda f: f["segment_id"] + 10)
    result = segment_customers(features, CFG, previous=previous, min_new_id=1)
    ids = set(result.profiles["segment_id"])
    assert set(previous["segment_id"]) <= ids
    new_ids = ids - set(previous["segment_id"])
    assert len(new_ids) == 1 and min(new_ids) > previous["segment_id"].max()


def test_missing_web_and_sentiment_sources() -> None:
    features, truth = planted_features(n_per_group=150, seed=3)
    features["web_sessions"] = None
    features["cart_abandonment_rate"] = None
    features["avg_sentiment"] = None
    result = segment_customers(features, CFG)
    used = result.metrics["features_used"]
    assert not {"web_sessions", "cart_abandonment_rate", "avg_sentiment"} & set(used)
    assert adjusted_rand_score(truth, result.assignments["segment_id"]) >= 0.7
    assert result.assignments["web_sessions"].isna().all()


def test_sentiment_feature_is_used_when_present() -> None:
    features, _ = planted_features(n_per_group=60, seed=5)
    features["avg_sentiment"] = np.where(np.arange(len(features)) % 3 == 0, np.nan,
                                         np.random.default_rng(1).uniform(-1, 1, len(features)))
    result = segment_customers(features, CFG)
    assert "avg_sentiment" in result.metrics["features_used"]


# --- run() against a temporary warehouse -----------------------------------------------------


@pytest.fixture()
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cx.duckdb"
    monkeypatch.setenv("CX_WAREHOUSE", str(path))
    monkeypatch.setenv("CX_DUCKDB_THREADS", "2")
    monkeypatch.setenv("CX_DUCKDB_MEMORY_LIMIT", "1GB")
    return path


def _write(path: Path, table: str, frame: pd.DataFrame) -> None:
    schema, name = table.split(".")
    con = duckdb.connect(str(path))
    try:
        con.execute(f"create schema if not exists {schema}")
        con.register("f", frame)
        con.execute(f"create or replace table {schema}.{name} as select * from f")
    finally:
        con.close()


def _types(path: Path, table: str) -> list[tuple[str, str]]:
    con = duckdb.connect(str(path))
    try:
        return con.execute("select column_name, data_type from information_schema.columns "
                           "where table_schema = 'main' and table_name = ?", [table]).fetchall()
    finally:
        con.close()


def test_run_writes_segments_and_model_runs(warehouse: Path) -> None:
    features, _ = planted_features(n_per_group=40, seed=11)
    _write(warehouse, "marts.customer_features", features)
    ids = features["customer_id"].iloc[:30]
    texts = pd.DataFrame({"text_id": [f"R{i}" for i in range(30)], "source": "review", "customer_id": ids.to_numpy(),
                          "product_id": "P1", "rating": 5, "title": "t", "body": "b", "language": "en",
                          "created_at": pd.Timestamp("2024-01-01")})
    _write(warehouse, "marts.fct_texts", texts)
    scores = pd.DataFrame({"review_id": texts["text_id"], "sentiment_score": np.linspace(-1, 1, 30),
                           "sentiment_label": "neutral", "model_version": "x", "rating": 5, "rating_conflict": False})
    _write(warehouse, "main.review_sentiment", pd.concat(
        [scores.assign(as_of_date=date(2024, 1, d)) for d in (1, 2)], ignore_index=True))

    day1 = seg.run(date(2024, 1, 1))
    assert day1["rows"] == len(features) and day1["k"] >= 3
    day2 = seg.run(date(2024, 1, 2))
    seg.run(date(2024, 1, 2))  # idempotent re-run

    con = duckdb.connect(str(warehouse))
    try:
        out = con.execute("select * from main.customer_segments").df()
        runs = con.execute("select * from main.model_runs where model = 'segmentation'").df()
    finally:
        con.close()
    assert out.groupby("as_of_date").size().tolist() == [len(features), len(features)]
    types = dict(_types(warehouse, "customer_segments"))
    assert types["segment_id"] == "INTEGER" and types["segment_name"] == "VARCHAR"
    d1 = out.loc[out["as_of_date"] == pd.Timestamp("2024-01-01")].set_index("customer_id")
    d2 = out.loc[out["as_of_date"] == pd.Timestamp("2024-01-02")].set_index("customer_id")
    assert (d1["segment_id"] == d2.loc[d1.index, "segment_id"]).all()
    assert (d1["segment_name"] == d2.loc[d1.index, "segment_name"]).all()
    # sentiment of day 1 joined for the 30 reviewers, NULL elsewhere
    assert d1["avg_sentiment"].notna().sum() == 30
    day1_runs = runs.loc[runs["as_of_date"] == pd.Timestamp("2024-01-01")].set_index("metric")
    assert {"silhouette", "k", "stability"} <= set(day1_runs.index)
    assert day1_runs.loc["k", "value"] == day1["k"]
    assert set(json.loads(day1_runs.loc["k", "details"])["sizes"]) == set(d1["segment_name"])
    assert (runs["model_version"] == "kmeans-v1").all()
    assert len(runs.loc[runs["as_of_date"] == pd.Timestamp("2024-01-02")]) == len(day1_runs)
    day2_runs = runs.loc[runs["as_of_date"] == pd.Timestamp("2024-01-02")].set_index("metric")
    assert day2_runs.loc["stability", "value"] == pytest.approx(1.0) and day2["stability"] == pytest.approx(1.0)


def test_run_skips_without_features(warehouse: Path) -> None:
    assert "skipped" in seg.run(date(2024, 1, 1))
    _write(warehouse, "marts.customer_features", planted_features(n_per_group=1)[0].iloc[:0])
    assert "skipped" in seg.run(date(2024, 1, 1))
