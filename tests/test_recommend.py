"""Recommendation stage: metrics, business rules, cold start, gate and run()."""

from __future__ import annotations

import json
import math
import pickle
from dataclasses import replace
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest

from cx.errors import NothingToDo
from cx.models import recommend as rec
from cx.models.recommend import purchase_signals, repeat_then_popularity, scaled_popularity
from cx.models.recommend._blend import _ValidationTable
from cx.models.recommend._candidates import lightfm_candidates, lightfm_rank_term, top_columns
from cx.models.recommend._terms import count_greater
from cx.models.recommend._topk import descending_order, top_slots
from cx.models.recommend.evaluation import (
    catalog_coverage,
    evaluate_lists,
    holdout_split,
    holdout_test,
    lift_standard_error,
    ndcg_at_k,
    precision_at_k,
    precision_by_customer,
    recall_at_k,
)

AS_OF = date(2024, 4, 30)
CATEGORIES = ("garden", "kitchen", "toys")


# Every-item definitions of the baselines: the candidate lists must equal them.
def popularity_scores(signals, n_rows: int) -> np.ndarray:
    pop = scaled_popularity(signals)
    return np.broadcast_to(pop, (n_rows, pop.size)).copy()


def repeat_then_popularity_scores(signals, users: np.ndarray) -> np.ndarray:
    return repeat_then_popularity(signals.occasions[users].toarray(), scaled_popularity(signals)[None, :])


def _fast_cfg(**overrides: object) -> rec.RecommendConfig:
    base = rec.RecommendConfig(no_components=16, epochs=15, holdout_days=14, seed=7)
    return rec.RecommendConfig(**{**base.__dict__, **overrides})


def taste_data(seed: int = 0, n_users: int = 180, per_cat: int = 25, days: int = 120) -> dict[str, pd.DataFrame]:
    """Three segments, each loyal to one category; within a category, a few items are
    favourites. Popularity sees a third of the truth, a feature-aware model all of it."""
    rng = np.random.default_rng(seed)
    products = []
    for c, cat in enumerate(CATEGORIES):
        for j in range(per_cat):
            products.append(
                {
                    "product_id": f"{cat[:1]}{j:03d}",
                    "name": f"{cat} item {j}",
                    "category": cat,
                    "brand": f"{cat}-brand-{j % 3}",
                    "price": float(5 + 3 * c + j % 7),
                    "description": f"lovely {cat} thing number{j % 5} {cat}ware",
                    "is_product": True,
                    "is_available": True,
                }
            )
    products += [
        {
            "product_id": "POST",
            "name": "postage",
            "category": None,
            "brand": None,
            "price": 10.0,
            "description": "postage",
            "is_product": False,
            "is_available": True,
        },
        {
            "product_id": "g_gone",
            "name": "discontinued garden",
            "category": "garden",
            "brand": "garden-brand-0",
            "price": 6.0,
            "description": "lovely garden thing gardenware",
            "is_product": True,
            "is_available": False,
        },
    ]
    products_df = pd.DataFrame(products)
    customers, segments, events = [], [], []
    start = pd.Timestamp(AS_OF) - pd.Timedelta(days=days)
    for u in range(n_users):
        c = u % 3
        cat = CATEGORIES[c]
        cid = f"u{u:04d}"
        customers.append(
            {
                "customer_id": cid,
                "region": ["north", "south", "west"][c],
                "age_band": "25-34",
                "tenure_days": 400,
                "country": "GB",
            }
        )
        segments.append({"customer_id": cid, "segment_name": f"{cat}-lovers"})
        # Zipf-like favourites inside the segment's category, plus postage on orders.
        probs = 1.0 / np.arange(1, per_cat + 1) ** 1.1
        probs = rng.permutation(probs / probs.sum()) if u % 2 else probs / probs.sum()
        for _ in range(rng.integers(8, 20)):
            t = start + pd.Timedelta(hours=int(rng.integers(0, days * 24)))
            j = int(rng.choice(per_cat, p=probs))
            pid = f"{cat[:1]}{j:03d}"
            events.append((cid, pid, "purchase", t, 1.0, None))
            events.append((cid, pid, "product_view", t - pd.Timedelta(minutes=5), 1.0, None))
            events.append((cid, "POST", "purchase", t, 1.0, None))
            if rng.random() < 0.3:
                events.append((cid, "g_gone", "purchase", t, 1.0, None))
    interactions = pd.DataFrame(
        events, columns=["customer_id", "product_id", "interaction_type", "occurred_at", "quantity", "rating"]
    )
    return {
        "interactions": interactions,
        "products": products_df,
        "customers": pd.DataFrame(customers),
        "segments": pd.DataFrame(segments),
    }


# ---------------------------------------------------------------------------- metrics


def test_ranking_metrics_by_hand() -> None:
    recs = ["a", "b", "c", "d"]
    relevant = {"b", "d", "z"}
    assert precision_at_k(recs, relevant, 4) == pytest.approx(2 / 4)
    assert precision_at_k(recs, relevant, 2) == pytest.approx(1 / 2)
    assert recall_at_k(recs, relevant, 4) == pytest.approx(2 / 3)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(recs, relevant, 4) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(["z"], {"z"}, 10) == pytest.approx(1.0)
    assert catalog_coverage([["a", "b"], ["b", "c"]], 6, 10) == pytest.approx(3 / 6)


def test_evaluate_lists_counts_missing_users_as_misses() -> None:
    recs = pd.DataFrame({"customer_id": ["u1", "u1"], "rank": [1, 2], "product_id": ["a", "b"]})
    test = pd.DataFrame({"customer_id": ["u1", "u2"], "product_id": ["a", "a"]})
    out = evaluate_lists(recs, test, catalog_size=4, k=2)
    assert out["precision"] == pytest.approx((1 / 2 + 0) / 2)
    assert out["recall"] == pytest.approx((1 + 0) / 2)
    assert out["coverage"] == pytest.approx(2 / 4)


def test_precision_by_customer_and_paired_lift_error() -> None:
    recs = pd.DataFrame({"customer_id": ["u1", "u1", "u2"], "rank": [1, 2, 1], "product_id": ["a", "b", "c"]})
    test = pd.DataFrame({"customer_id": ["u1", "u2", "u3"], "product_id": ["a", "a", "a"]})
    model = precision_by_customer(recs, test, k=2)
    assert model.to_dict() == {"u1": 0.5, "u2": 0.0, "u3": 0.0}  # u3 has no list: all misses
    baseline = pd.Series({"u1": 0.0, "u2": 0.0, "u3": 0.5})
    # differences 0.5, 0, -0.5: mean 0, sample std 0.5, standard error 0.5 / sqrt(3)
    assert lift_standard_error(model, baseline) == pytest.approx(0.5 / math.sqrt(3))
    assert lift_standard_error(model.iloc[:1], baseline) == math.inf


def test_holdout_split_keeps_known_users_and_products() -> None:
    t0 = pd.Timestamp("2024-01-01")
    inter = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "a"],
            "product_id": ["p", "q", "p", "POST"],
            "interaction_type": ["purchase", "purchase", "purchase", "purchase"],
            "occurred_at": [t0, t0 + pd.Timedelta(days=10), t0 + pd.Timedelta(days=10), t0 + pd.Timedelta(days=10)],
        }
    )
    train, test = holdout_split(inter, ["p", "q"], t0 + pd.Timedelta(days=5))
    assert len(train) == 1
    assert test.to_dict("records") == [{"customer_id": "a", "product_id": "q"}]
    assert holdout_test(inter, ["p", "q"], t0 + pd.Timedelta(days=5), end=t0 + pd.Timedelta(days=10)).empty


def test_descending_order_is_the_stable_argsort() -> None:
    scores = np.array(
        [
            [0.5, 0.5, -0.0, 0.0, np.inf, -np.inf, 0.25],
            [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
            [-1e-30, 1e-30, 3.0, -3.0, 0.5, 0.5, 2.0],
        ],
        dtype="float32",
    )
    assert np.array_equal(descending_order(scores), np.argsort(-scores, axis=1, kind="stable"))
    assert rec.rank_normalise(scores)[1].tolist() == pytest.approx([1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6, 0.0])


def test_epochs_shrink_with_data_within_the_update_budget() -> None:
    cfg = rec.RecommendConfig(epochs=20, max_pair_updates=1_000)
    assert rec.epochs_within_budget(10, cfg) == 20  # small data: every configured epoch
    assert rec.epochs_within_budget(250, cfg) == 4
    assert rec.epochs_within_budget(10**6, cfg) == 1  # huge data: one pass, never zero


def test_user_features_from_crm_and_segments() -> None:
    customers = pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c2"],
            "region": ["north", None, "x"],
            "country": ["GB", "FR", "FR"],
            "age_band": ["25-34", None, None],
            "tenure_days": [30, 800, 800],
        }
    )
    segments = pd.DataFrame({"customer_id": ["c1", "c3"], "segment_name": ["loyal", "new"]})
    feats = rec.user_feature_lists(customers, segments)
    assert feats == {
        "c1": [
            ("segment:loyal", 1.0),
            ("region:north", 1.0),
            ("country:GB", 1.0),
            ("age_band:25-34", 1.0),
            ("tenure:<90d", 1.0),
        ],
        "c2": [("country:FR", 1.0), ("tenure:2y+", 1.0)],
        "c3": [("segment:new", 1.0)],
    }


def test_interaction_weights_returns_and_ratings() -> None:
    t = pd.Timestamp("2024-01-01")
    inter = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "a"],
            "product_id": ["p", "p", "q", "r", "s"],
            "interaction_type": ["purchase", "return", "purchase", "rating", "product_view"],
            "occurred_at": [t] * 5,
            "rating": [None, None, None, 1, None],
        }
    )
    w = rec.interaction_weights(inter, t, rec.RecommendConfig()).set_index("product_id")["weight"]
    assert "p" not in w.index  # bought and returned: removed
    assert "r" not in w.index  # 1-star rating counts against
    assert w["q"] > w["s"] > 0  # purchase outweighs a view


# ---------------------------------------------------------------------------- model


@pytest.fixture(scope="module")
def taste() -> dict[str, pd.DataFrame]:
    return taste_data()


@pytest.fixture(scope="module")
def result(taste: dict[str, pd.DataFrame]) -> rec.RecommendResult:
    return rec.recommend(
        taste["interactions"],
        taste["products"],
        taste["customers"],
        taste["segments"],
        AS_OF,
        _fast_cfg(exclude_bought_days=7),
    )


@pytest.mark.slow
def test_hybrid_beats_popularity_on_taste_data(result: rec.RecommendResult) -> None:
    model, pop = result.metrics["model"], result.metrics["popularity"]
    print("metrics", {k: {m: round(v, 3) for m, v in d.items()} for k, d in result.metrics.items()})
    assert model["precision"] > pop["precision"] * 1.5
    assert model["ndcg"] > pop["ndcg"]
    assert model["coverage"] > pop["coverage"]


def test_business_rules(result: rec.RecommendResult, taste: dict[str, pd.DataFrame]) -> None:
    recs = result.recommendations
    assert not recs["product_id"].isin(["POST", "g_gone"]).any()
    assert recs.groupby("customer_id")["rank"].apply(lambda r: list(r) == list(range(1, len(r) + 1))).all()
    assert recs.groupby("customer_id").size().max() == 10
    # Nothing bought in the last 7 days comes back.
    inter = taste["interactions"]
    cutoff = pd.Timestamp(AS_OF) + pd.Timedelta(days=1) - pd.Timedelta(days=7)
    recent = inter.loc[(inter["interaction_type"] == "purchase") & (inter["occurred_at"] >= cutoff)]
    clash = recs.merge(recent[["customer_id", "product_id"]].drop_duplicates(), on=["customer_id", "product_id"])
    assert clash.empty


@pytest.mark.slow
def test_cold_start_user_and_item(taste: dict[str, pd.DataFrame]) -> None:
    customers = pd.concat(
        [
            taste["customers"],
            pd.DataFrame(
                [{"customer_id": "newbie", "region": "west", "age_band": "25-34", "tenure_days": 1, "country": "GB"}]
            ),
        ],
        ignore_index=True,
    )
    segments = pd.concat(
        [taste["segments"], pd.DataFrame([{"customer_id": "newbie", "segment_name": "toys-lovers"}])], ignore_index=True
    )
    products = pd.concat(
        [
            taste["products"],
            pd.DataFrame(
                [
                    {
                        "product_id": "t_new",
                        "name": "new toy",
                        "category": "toys",
                        "brand": "toys-brand-1",
                        "price": 12.0,
                        "description": "lovely toys thing toysware",
                        "is_product": True,
                        "is_available": True,
                    }
                ]
            ),
        ],
        ignore_index=True,
    )
    out = rec.recommend(taste["interactions"], products, customers, segments, AS_OF, _fast_cfg())
    assert out.model_version == rec.VERSION_MODEL
    cats = products.set_index("product_id")["category"]
    newbie = out.recommendations.loc[out.recommendations["customer_id"] == "newbie"]
    assert len(newbie) == 10
    assert (newbie["product_id"].map(cats) == "toys").mean() >= 0.8

    # The new toy, never interacted with, is placed from its features: for toy lovers
    # above nearly every item of the other categories, for garden lovers near the bottom.
    assert out.recommender is not None
    fitted = out.recommender.lightfm
    users = np.arange(len(fitted.user_ids))
    scores = fitted.scores(users)
    new = scores[:, fitted.item_index["t_new"]]
    other = np.isin(cats.reindex(fitted.item_ids).to_numpy(), ["garden", "kitchen"])
    beaten = (scores[:, other] < new[:, None]).mean(axis=1)
    seg = segments.set_index("customer_id")["segment_name"].reindex(fitted.user_ids).to_numpy()
    assert beaten[seg == "toys-lovers"].mean() > 0.8
    assert beaten[seg == "garden-lovers"].mean() < 0.3


def test_gate_choice() -> None:
    base = {"popularity": {"precision": 0.1}, "repeat_pop": {"precision": 0.3}}
    assert rec.gate({"precision": 0.31}, base) == (rec.VERSION_MODEL, True, "repeat_pop")
    assert rec.gate({"precision": 0.30}, base) == (rec.VERSION_REPEAT, False, "repeat_pop")
    assert rec.gate({"precision": 0.2}, {"popularity": {"precision": 0.25}, "repeat_pop": {"precision": 0.1}}) == (
        rec.VERSION_POPULARITY,
        False,
        "popularity",
    )


def test_gate_needs_a_lift_beyond_its_standard_error() -> None:
    base = {"popularity": {"precision": 0.1}, "repeat_pop": {"precision": 0.3}}
    noisy = {"precision": 0.301, "lift_se:repeat_pop": 0.001, "lift_se:popularity": 0.01}
    assert rec.gate(noisy, base, min_z=2.0) == (rec.VERSION_REPEAT, False, "repeat_pop")
    assert rec.gate(noisy, base, min_z=0.0) == (rec.VERSION_MODEL, True, "repeat_pop")
    clear = {"precision": 0.31, "lift_se:repeat_pop": 0.001}
    assert rec.gate(clear, base, min_z=2.0) == (rec.VERSION_MODEL, True, "repeat_pop")


@pytest.mark.slow
def test_gate_falls_back_when_model_is_worse() -> None:
    """Pure repeat buyers of random items, and a model configured to be weak (1-epoch
    LightFM, blend off): 'buy again' wins, so the published lists are the baseline's,
    with the business rules still applied."""
    rng = np.random.default_rng(3)
    items = [f"p{i:03d}" for i in range(200)]
    products = pd.DataFrame(
        {
            "product_id": items,
            "name": items,
            "category": "x",
            "brand": "b",
            "price": 1.0,
            "description": "thing",
            "is_product": True,
            "is_available": True,
        }
    )
    products.loc[0, "is_available"] = False
    products.loc[1, "is_product"] = False
    t0 = pd.Timestamp(AS_OF) - pd.Timedelta(days=90)
    rows = []
    for u in range(80):
        favourites = [items[0], items[1], *rng.choice(items[2:], 3, replace=False)]
        for d in range(0, 91, 3):
            rows.append((f"u{u}", str(rng.choice(favourites)), "purchase", t0 + pd.Timedelta(days=d, hours=u % 20)))
    inter = pd.DataFrame(rows, columns=["customer_id", "product_id", "interaction_type", "occurred_at"])
    inter["rating"] = None
    customers = pd.DataFrame({"customer_id": [f"u{u}" for u in range(80)]})
    weak = _fast_cfg(
        epochs=1,
        learn_blend=False,
        blend_frequency=0.0,
        blend_recency=0.0,
        blend_popularity=0.0,
        blend_lightfm=1.0,
        exclude_bought_days=5,
    )
    out = rec.recommend(inter, products, customers, None, AS_OF, weak)
    assert out.model_version == rec.VERSION_REPEAT
    assert not out.passed
    assert out.recommender is None
    assert out.metrics["repeat_pop"]["precision"] > out.metrics["model"]["precision"]
    assert (out.recommendations["model_version"] == rec.VERSION_REPEAT).all()
    recs = out.recommendations
    assert not recs["product_id"].isin([items[0], items[1]]).any()
    cutoff = pd.Timestamp(AS_OF) + pd.Timedelta(days=1) - pd.Timedelta(days=5)
    recent = inter.loc[inter["occurred_at"] >= cutoff, ["customer_id", "product_id"]].drop_duplicates()
    assert len(recent) and recs.merge(recent, on=["customer_id", "product_id"]).empty
    # The baseline's lists are the customers' own favourites (the ones not excluded).
    top = recs.loc[recs["rank"] == 1].merge(inter[["customer_id", "product_id"]].drop_duplicates())
    assert len(top) == recs["customer_id"].nunique()

    # The same data with the published configuration: the blend keeps 'buy again' in
    # and adds LightFM, so the model is at least as good and is published.
    good = rec.recommend(inter, products, customers, None, AS_OF, _fast_cfg())
    assert good.metrics["model"]["precision"] >= good.metrics["repeat_pop"]["precision"]


def test_purchase_signals_and_repeat_baseline() -> None:
    t = pd.Timestamp("2024-03-10")
    inter = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "a", "b", "b", "c", "a"],
            "product_id": ["p", "p", "p", "q", "r", "q", "r", "r", "s"],
            "interaction_type": ["purchase"] * 7 + ["product_view", "purchase"],
            # p: two lines on one day + another day; s is after the reference.
            "occurred_at": [
                t - pd.Timedelta(days=9, hours=2),
                t - pd.Timedelta(days=9, hours=1),
                t - pd.Timedelta(days=2),
                t - pd.Timedelta(days=30),
                t - pd.Timedelta(days=1),
                t - pd.Timedelta(days=3),
                t - pd.Timedelta(days=4),
                t - pd.Timedelta(days=1),
                t,
            ],
        }
    )
    users, items = {"a": 0, "b": 1, "c": 2}, {"p": 0, "q": 1, "r": 2, "s": 3}
    sig = purchase_signals(inter, users, items, t, popularity_half_life_days=1e9, exclude_bought_days=1)
    assert sig.occasions.toarray()[0].tolist() == [2, 1, 1, 0]  # p: 2 days, not 3 lines; s: future
    assert sig.last_age.toarray()[0].tolist() == [3, 31, 2, 0]  # 1 + days since last bought
    assert sig.popularity.tolist() == pytest.approx([3, 2, 2, 0])  # views do not count
    assert sig.recent.toarray()[0].tolist() == [0, 0, 1, 0]  # bought within a day: r only
    scores = repeat_then_popularity_scores(sig, np.array([0, 2]))
    assert list(np.argsort(-scores[0], kind="stable")) == [0, 1, 2, 3]  # p (2 days), then q/r tie by popularity
    assert scores[0, 1] == pytest.approx(scores[0, 2])
    assert list(np.argsort(-scores[1], kind="stable")[:3]) == [0, 1, 2]  # c bought nothing: popularity
    assert scores[1].max() < 1 <= scores[0, :3].min()


def test_learn_blend_finds_the_informative_term() -> None:
    """On a validation table where only recency predicts the next purchase, the learned
    weights must put recency above frequency and beat the defaults."""
    rng = np.random.default_rng(0)
    n_users, width = 50, 30
    terms = rng.random((len(rec.BLEND_TERMS), n_users, width)).astype("float32")
    bought = np.zeros((n_users, width), dtype=bool)
    best = np.argsort(-terms[1], axis=1)[:, :3]  # the 3 most recent items are bought
    np.put_along_axis(bought, best, True, axis=1)
    table = _ValidationTable([terms], [np.ones((n_users, width), dtype=bool)], [bought], n_users)
    cfg = rec.RecommendConfig(eval_k=3)
    weights, p_default, p_learned = rec.learn_blend(table, cfg)
    assert p_learned > p_default + 0.2
    assert weights[1] == max(cfg.blend_grid) > weights[0] == cfg.blend_frequency  # recency over the anchor
    assert weights[2] < cfg.blend_popularity and weights[3] < cfg.blend_lightfm  # the noise terms shrink
    # A gain below blend_min_gain is noise: the defaults stay.
    _, _, same = rec.learn_blend(table, replace(cfg, blend_min_gain=1.0))
    assert same == p_default


def test_validation_inside_training_period(taste: dict[str, pd.DataFrame]) -> None:
    """fit_recommender must not see the events at or after its reference: the same fit
    on data with extra future events gives the same weights and scores (one thread:
    LightFM's multi-threaded SGD is not bit-for-bit repeatable)."""
    cfg = _fast_cfg(num_threads=1)
    inter = taste["interactions"].copy()
    reference = pd.Timestamp(AS_OF) - pd.Timedelta(days=14)
    uni = rec.build_universe(inter, taste["products"], taste["customers"], taste["segments"], cfg)
    base = rec.fit_recommender(inter.loc[inter["occurred_at"] < reference], uni, reference, cfg)
    again = rec.fit_recommender(inter, uni, reference, cfg)
    assert base.details["validation_customers"] >= cfg.min_validation_customers
    assert base.blend == again.blend
    users = np.arange(len(uni.user_ids))
    assert np.allclose(base.scores(users), again.scores(users))


# ---------------------------------------------------------------------------- run()


@pytest.mark.slow
def test_run_writes_tables(tmp_path, monkeypatch, taste: dict[str, pd.DataFrame]) -> None:
    import time

    wh = tmp_path / "cx.duckdb"
    monkeypatch.setenv("CX_WAREHOUSE", str(wh))
    monkeypatch.setenv("CX_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("CX_RECS_HOLDOUT_DAYS", "14")
    con = duckdb.connect(str(wh))
    con.execute("create schema marts")
    inter = taste["interactions"].copy()
    # A future event must be ignored by the as_of run.
    inter.loc[len(inter)] = ["u0000", "g000", "purchase", pd.Timestamp(AS_OF) + pd.Timedelta(days=3), 1.0, None]
    for name, frame in (
        ("fct_interactions", inter),
        ("dim_products", taste["products"]),
        ("dim_customers", taste["customers"]),
    ):
        con.register("f", frame)
        con.execute(f"create table marts.{name} as select * from f")
        con.unregister("f")
    con.register("f", taste["segments"].assign(segment_id=1, as_of_date=AS_OF))
    con.execute("create schema model_outputs; create table model_outputs.customer_segments as select * from f")
    con.close()

    started = time.monotonic()
    summary = rec.run(AS_OF)
    print("run seconds", round(time.monotonic() - started, 2), summary)
    assert summary["customers"] == 180
    con = duckdb.connect(str(wh))
    recs = con.execute("select * from model_outputs.customer_recommendations").df()
    runs = con.execute("select * from model_outputs.model_runs where model = 'recommendations'").df()
    con.close()
    assert set(recs["as_of_date"].astype(str)) == {str(AS_OF)}
    assert not recs["product_id"].isin(["POST", "g_gone"]).any()
    assert set(runs["metric"]) == {"p@10", "recall@10", "ndcg@10", "coverage"}
    assert runs["baseline_value"].notna().all()
    assert summary["model_version"] == rec.VERSION_MODEL and set(summary["blend"]) == set(rec.BLEND_TERMS)
    detail = json.loads(runs.loc[runs["metric"] == "p@10", "details"].iloc[0])
    assert {"popularity", "repeat_pop", "plain_lightfm", "blend", "best_baseline"} <= set(detail)
    assert (runs["model_version"] == summary["model_version"]).all()
    with open(tmp_path / "artifacts" / "models" / "recommend" / f"{AS_OF}.pkl", "rb") as handle:
        assert pickle.load(handle)["model_version"] == summary["model_version"]
    # Idempotent re-run: still one copy of the day.
    rec.run(AS_OF)
    con = duckdb.connect(str(wh))
    assert con.execute("select count(*) from model_outputs.customer_recommendations").fetchone()[0] == len(recs)
    con.close()


def test_run_skips_without_interactions(tmp_path, monkeypatch) -> None:
    wh = tmp_path / "cx.duckdb"
    monkeypatch.setenv("CX_WAREHOUSE", str(wh))
    monkeypatch.setenv("CX_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    with pytest.raises(NothingToDo, match="marts.fct_interactions or marts.dim_products missing"):
        rec.run(AS_OF)
    con = duckdb.connect(str(wh))
    con.execute("create schema marts")
    con.execute(
        "create table marts.fct_interactions (customer_id varchar, product_id varchar, "
        "interaction_type varchar, occurred_at timestamp, quantity double, rating integer)"
    )
    con.execute("create table marts.dim_products (product_id varchar, is_product boolean, is_available boolean)")
    con.close()
    with pytest.raises(NothingToDo, match=f"no interactions up to {AS_OF}"):
        rec.run(AS_OF)
    con = duckdb.connect(str(wh))
    assert (
        con.execute("select count(*) from information_schema.tables where table_schema = 'model_outputs'").fetchone()[0]
        == 0
    )  # nothing written for a day with nothing to do
    con.close()


# ---------------------------------------------------------------------------- candidates


def test_count_greater_and_top_columns_match_a_full_sort() -> None:
    rng = np.random.default_rng(5)
    scores = rng.standard_normal((40, 500)).astype("float32")
    values = rng.standard_normal((40, 7)).astype("float32")
    values[:, 0] = scores[:, 3]  # equal to an item: not counted as greater
    ascending = np.sort(scores, axis=1)
    brute = (scores[:, None, :] > values[:, :, None]).sum(axis=2)
    assert np.array_equal(count_greater(ascending, values), brute)

    full = descending_order(scores)
    probe = np.sort(rng.choice(500, 64, replace=False))
    for c in (1, 10, 60, 499, 500, 800):
        top = top_columns(scores, min(c, 500), np.sort(scores[:, probe], axis=1))
        assert np.array_equal(top, full[:, : min(c, 500)])
    # A probe whose threshold misses (too high, or everything tied) falls back to the full row.
    high = np.full((40, 64), 10.0, dtype="float32")
    assert np.array_equal(top_columns(scores, 10, high), full[:, :10])
    tied = np.zeros((3, 500), dtype="float32")
    top = top_columns(tied, 10, np.zeros((3, 64), dtype="float32"))
    assert top.shape == (3, 10) and all(len(set(row)) == 10 for row in top)


def test_lightfm_rank_term_is_the_dense_rank() -> None:
    rng = np.random.default_rng(6)
    scores = rng.standard_normal((30, 400)).astype("float32")
    dense = rec.rank_normalise(scores)
    cols = rng.choice(400, (30, 50))
    values = np.take_along_axis(scores, cols, axis=1)
    truth = np.take_along_axis(dense, cols, axis=1)
    top = top_columns(scores, 20, np.sort(scores, axis=1))
    top_values = np.take_along_axis(scores, top, axis=1)
    # Every item in the probe: exact.
    exact = lightfm_rank_term(values, top_values, np.sort(scores, axis=1), 400)
    assert np.allclose(exact, truth)
    # A sample of 100 items: exact for the top 20, close elsewhere.
    probe = np.sort(rng.choice(400, 100, replace=False))
    approx = lightfm_rank_term(values, top_values, np.sort(scores[:, probe], axis=1), 400)
    in_top = (cols[:, :, None] == top[:, None, :]).any(axis=2)
    assert in_top.sum() > 20 and np.allclose(approx[in_top], truth[in_top])
    assert np.abs(approx - truth).mean() < 0.03
    # lightfm_candidates: the same in blocks, with the top's terms exact.
    fitted = type("F", (), {"item_ids": list(range(400)), "scores": lambda self, users: scores[users]})()
    users = np.arange(30)
    got_top, top_term, other = lightfm_candidates(fitted, users, cols, 20, probe, block=7)
    assert np.array_equal(got_top, top)
    assert np.allclose(top_term, np.take_along_axis(dense, top, axis=1))
    assert np.allclose(other, approx)


def _dense_top_n(model: rec.Recommender, users: np.ndarray, allowed: np.ndarray, n: int) -> np.ndarray:
    scores = model.scores(users)
    scores[:, ~allowed] = -np.inf
    recent = model.signals.recent[users].toarray() > 0
    scores[recent] = -np.inf
    return scores, np.argsort(-scores, axis=1, kind="stable")[:, :n]


def test_candidate_lists_equal_the_dense_top_n(result: rec.RecommendResult, taste: dict[str, pd.DataFrame]) -> None:
    """Scoring candidates only gives the lists that scoring every item gives: identical
    when the candidates cover the catalogue, nearly so with few candidates and a sampled rank."""
    model = result.recommender
    assert model is not None and model.signals.recent.nnz  # the exclusion window is exercised
    fitted = model.lightfm
    users = np.arange(len(fitted.user_ids))
    allowed = np.isin(fitted.item_ids, taste["products"].query("is_product and is_available")["product_id"])
    dense_scores, dense = _dense_top_n(model, users, allowed, 10)
    for cfg, min_overlap in (
        (replace(model.cfg, batch_size=50), 1.0),
        (replace(model.cfg, batch_size=50, candidates_per_source=12, rank_sample_items=30), 0.9),
    ):
        batches = rec.candidate_batches(fitted, model.signals, users, allowed, cfg)
        lists = rec.top_n_lists({"m": rec.blend_scorer(model.weights)}, batches, fitted.user_ids, fitted.item_ids, 10)[
            "m"
        ]
        assert len(lists) == 10 * len(users) and lists["product_id"].isin(np.array(fitted.item_ids)[allowed]).all()
        got = lists.groupby("customer_id")["product_id"].agg(list).reindex(fitted.user_ids)
        overlap = np.mean(
            [len(set(g) & {fitted.item_ids[i] for i in d}) / 10 for g, d in zip(got, dense, strict=False)]
        )
        assert overlap >= min_overlap
        if min_overlap == 1.0:
            expected = np.take_along_axis(dense_scores, dense, axis=1).ravel()
            assert np.allclose(lists["score"].to_numpy(), expected, atol=1e-5)


def test_baselines_on_candidates_equal_their_dense_lists(result: rec.RecommendResult) -> None:
    model = result.recommender
    assert model is not None
    signals, fitted = model.signals, model.lightfm
    users = np.arange(len(fitted.user_ids))
    allowed = np.ones(len(fitted.item_ids), dtype=bool)
    cfg = replace(model.cfg, candidates_per_source=15)  # fewer candidates than items
    batches = rec.candidate_batches(None, signals, users, allowed, cfg)
    lists = rec.top_n_lists(rec.baseline_scorers(signals), batches, fitted.user_ids, fitted.item_ids, 5)
    recent = signals.recent[users].toarray() > 0
    for name, dense in (
        ("popularity", popularity_scores(signals, len(users))),
        ("repeat_pop", repeat_then_popularity_scores(signals, users)),
    ):
        dense = np.where(recent, -np.inf, dense)
        best = np.sort(dense, axis=1)[:, ::-1][:, :5]
        got = lists[name].pivot(index="customer_id", columns="rank", values="score").reindex(fitted.user_ids)
        assert np.allclose(got.to_numpy(), best, atol=1e-6)


def test_eval_customers_sample_is_fixed() -> None:
    test = pd.DataFrame({"customer_id": [f"c{i}" for i in range(100)], "product_id": "p"})
    cfg = rec.RecommendConfig(max_eval_customers=30)
    first = rec.eval_customers(test, cfg)
    assert len(first) == 30 and np.array_equal(first, rec.eval_customers(test.sample(frac=1, random_state=1), cfg))
    assert len(rec.eval_customers(test, rec.RecommendConfig())) == 100


def test_fit_samples_pairs_beyond_the_update_budget(taste: dict[str, pd.DataFrame]) -> None:
    """More customer-product pairs than max_pair_updates: one pass over a seeded sample of
    them; customers none of whose pairs was drawn are cold (no identity feature)."""
    cfg = _fast_cfg(max_pair_updates=300, num_threads=1)
    inter = taste["interactions"].astype({"customer_id": "category", "product_id": "category"})
    uni = rec.build_universe(inter, taste["products"], taste["customers"], taste["segments"], cfg)
    fitted = rec.fit_lightfm(
        inter, uni.user_ids, uni.item_ids, uni.user_feats, uni.item_feats, pd.Timestamp(AS_OF), cfg
    )
    identity = fitted.user_features[:, : len(uni.user_ids)]
    warm = np.asarray(identity.sum(axis=1)).ravel() > 0
    assert 0 < warm.sum() < len(uni.user_ids)
    assert fitted.model.user_embeddings.shape[0] == fitted.user_features.shape[1]
    again = rec.fit_lightfm(inter, uni.user_ids, uni.item_ids, uni.user_feats, uni.item_feats, pd.Timestamp(AS_OF), cfg)
    assert (again.user_features != fitted.user_features).nnz == 0  # the sample is fixed


# ---------------------------------------------------------------------------- reproducibility


@pytest.mark.slow
def test_same_lists_and_metrics_whatever_the_row_order_and_threads(taste: dict[str, pd.DataFrame]) -> None:
    """Inputs in another row order (as DuckDB may return them), other LightFM/scoring and
    BLAS thread counts: the same published lists, scores and holdout metrics."""
    from threadpoolctl import threadpool_limits

    cfg = _fast_cfg(exclude_bought_days=7, epochs=8, batch_size=64)
    results = []
    for seed, threads, blas in ((None, 1, 1), (1, 2, 2), (2, 3, 1)):
        frames = {
            name: frame if seed is None else frame.sample(frac=1.0, random_state=seed) for name, frame in taste.items()
        }
        with threadpool_limits(limits=blas, user_api="blas"):
            results.append(
                rec.recommend(
                    frames["interactions"],
                    frames["products"],
                    frames["customers"],
                    frames["segments"],
                    AS_OF,
                    replace(cfg, num_threads=threads),
                )
            )
    first = results[0]
    assert first.model_version == rec.VERSION_MODEL  # the LightFM fits are exercised
    for other in results[1:]:
        pd.testing.assert_frame_equal(
            other.recommendations, first.recommendations, check_exact=False, rtol=0.0, atol=1e-9
        )
        assert other.metrics == first.metrics and other.blend == first.blend


def test_ties_rank_by_product() -> None:
    """Equal scores rank by item index (product_id order), not by candidate slot."""

    scores = np.array([[0.5, 0.9, 0.5, 0.5, -np.inf]], dtype="float32")
    items = np.array([[7, 3, 2, 9, 1]])
    assert top_slots(scores, items, 4).tolist() == [[1, 2, 0, 3]]  # 0.9, then items 2, 7, 9
