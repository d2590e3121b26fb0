"""Sentiment on real reviews (samples in tests/data/reviews, see its README): trained as the
pipeline trains, on rated reviews, and scored on a held-back half with hidden ratings; and
the same scores whatever the row order and thread count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from cx.models.sentiment import LABELS, SentimentConfig, decide, fit_features, per_class_f1, score_texts, tune_cuts
from cx.models.sentiment.evaluation import label_codes
from cx.models.sentiment.holdout import as_fct_texts, hide_half, holdout_report

pytestmark = pytest.mark.slow  # trains on the real review samples

SAMPLES = Path(__file__).parent / "data" / "reviews"
# Floors a little under the figures measured on the samples (docs/sentiment.md): a change
# that loses more than noise on real text fails here. On B2W the floor is issue 23's target
# (macro-F1 0.68, AUC 0.94), met there and on the full corpora outside the repository in
# docs/sentiment.md. The TripAdvisor sample is the corpus measured at 0.693 in the docs
# with its rows renumbered, so another half is held back: 0.6799 there (0.664-0.693 over
# six splits), hence a floor under the target. The clothing and Olist samples do not reach it.
FLOORS = {
    "womens_clothing_en": {"macro_f1": 0.60, "roc_auc": 0.95},
    "b2w_pt": {"macro_f1": 0.68, "roc_auc": 0.94},
    "tripadvisor_en": {"macro_f1": 0.67, "roc_auc": 0.97},
    "olist_pt": {"macro_f1": 0.60, "roc_auc": 0.95},
}


def sample(name: str) -> pd.DataFrame:
    return pd.read_csv(
        SAMPLES / f"{name}.csv.gz",
        dtype={"review_id": "string", "title": "string", "body": "string", "language": "string"},
    )


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_real_reviews_held_back_half(name: str) -> None:
    reviews = sample(name)
    report = holdout_report(reviews)
    model, lexicon = report["model"], report["lexicon"]
    print(name, report["model"])
    assert report["fallback"] is None and report["model_version"] == SentimentConfig().model_version
    assert abs(report["held_back"] - len(reviews) / 2) <= len(LABELS)
    assert model["macro_f1"] >= FLOORS[name]["macro_f1"] and model["roc_auc"] >= FLOORS[name]["roc_auc"]
    assert model["macro_f1"] > lexicon["macro_f1"] + 0.05 and model["roc_auc"] > lexicon["roc_auc"]
    # The neutral class is called, not given up (F1 near 0). Olist's 116 held-back
    # three-star reviews, mostly about delivery, are the hardest: F1 0.20 there.
    assert min(model[f"f1_{lab}"] for lab in LABELS) > 0.15


def test_hidden_half_is_half_of_each_label_whatever_the_row_order() -> None:
    reviews = sample("olist_pt")
    hidden = hide_half(reviews, 42)
    shuffled = reviews.sample(frac=1.0, random_state=7)
    again = pd.Series(hide_half(shuffled, 42), index=shuffled.index).loc[reviews.index].to_numpy()
    assert (hidden == again).all()
    labels = pd.cut(reviews["rating"], [0, 2, 3, 5], labels=list(LABELS))
    share = pd.Series(hidden).groupby(labels.to_numpy(), observed=True).mean()
    assert share.between(0.49, 0.5).all()


def test_scores_do_not_depend_on_row_order_or_threads() -> None:
    reviews = sample("olist_pt").iloc[:600]
    texts = as_fct_texts(reviews, hide_half(reviews, 1))
    with threadpool_limits(limits=1):
        first = score_texts(texts, SentimentConfig())
    shuffled = texts.sample(frac=1.0, random_state=3).reset_index(drop=True)
    second = score_texts(shuffled, SentimentConfig())
    a = first.reviews.set_index("review_id").sort_index()
    b = second.reviews.set_index("review_id").sort_index()
    assert (a["sentiment_label"] == b["sentiment_label"]).all()
    assert np.abs(a["sentiment_score"] - b["sentiment_score"]).max() <= 1e-9
    assert first.summary == second.summary


def test_cut_points_maximise_macro_f1_and_keep_the_sign() -> None:
    rng = np.random.default_rng(0)
    y = rng.choice(np.array(LABELS, dtype=object), 1000, p=[0.2, 0.1, 0.7])
    centre = np.select([y == "negative", y == "neutral"], [-0.5, -0.1], 0.5)
    score = np.clip(centre + rng.normal(0, 0.35, y.size), -1, 1)
    low, high = tune_cuts(score, y)
    assert low <= 0 <= high
    truth = label_codes(y)
    best = np.nanmean(per_class_f1(truth, label_codes(decide(score, (low, high)))))
    grid = np.linspace(-1, 1, 21)
    brute = max(
        np.nanmean(per_class_f1(truth, label_codes(decide(score, (a, b)))))
        for a in grid[grid <= 0]
        for b in grid[grid >= 0]
    )
    assert best >= brute - 1e-9
    # the likeliest class under-calls neutral; the tuned band calls it
    assert best > np.nanmean(per_class_f1(truth, label_codes(decide(score, (0.0, 0.0)))))


def test_duplicated_keys_keep_the_same_row_whatever_the_order() -> None:
    reviews = sample("olist_pt").iloc[:400]
    texts = as_fct_texts(reviews, hide_half(reviews, 1))
    clash = texts.iloc[:30].assign(body="Produto chegou quebrado, péssimo.", rating=1)
    both = pd.concat([texts, clash], ignore_index=True)
    first = score_texts(both, SentimentConfig()).reviews.set_index("review_id").sort_index()
    second = score_texts(both.iloc[::-1], SentimentConfig()).reviews.set_index("review_id").sort_index()
    assert len(first) == len(texts) and first.equals(second)


def test_title_words_have_columns_of_their_own() -> None:
    cfg = SentimentConfig()
    docs = ["love it . fits well", "runs small . sent it back", "love it", "runs small"] * 3
    titles = ["love it", "runs small", "", ""] * 3
    features = fit_features(docs, np.ones(len(docs)), cfg, titles)
    assert features.title is not None and "runs small" in features.title.vocabulary_
    with_titles = features.transform(docs, np.zeros(len(docs)), titles)
    without = features.transform(docs, np.zeros(len(docs)), [""] * len(docs))
    assert with_titles.shape == without.shape == (len(docs), features.n_features)
    # the same words in a title and in a body are different columns
    extra = (with_titles - without).tocsr()
    assert set(np.flatnonzero(extra.getnnz(axis=1))) == {i for i, t in enumerate(titles) if t}
    # no titles at all (e.g. tickets-only or a corpus without titles): no title block
    assert fit_features(docs, np.ones(len(docs)), cfg, [""] * len(docs)).title is None


def test_stacked_scores_are_probability_differences_and_labels_keep_their_sign() -> None:
    reviews = sample("b2w_pt").iloc[:800]
    result = score_texts(as_fct_texts(reviews, hide_half(reviews, 3)), SentimentConfig())
    out = result.reviews
    assert out["sentiment_score"].between(-1, 1).all()
    assert (out.loc[out["sentiment_label"] == "positive", "sentiment_score"] > 0).all()
    assert (out.loc[out["sentiment_label"] == "negative", "sentiment_score"] < 0).all()
    assert (out["sentiment_label"] == "neutral").any()


def test_generated_reviews_are_not_easier_than_real_ones() -> None:
    # Issue 23: the demo's generated reviews once mapped one-to-one to their rating
    # (macro-F1 0.999), so the demo's figure meant nothing; it must stay under 0.95.
    from cx.generate.texts import LANGS, review_texts

    rng = np.random.default_rng(7)
    n = 2000
    rating = np.clip(np.round(rng.normal(3.9, 1.15, n)), 1, 5).astype(int)
    lang = rng.choice(len(LANGS), size=n)
    title, body = review_texts(rng, rating, lang)
    texts = pd.DataFrame(
        {
            "text_id": [f"r{i:05d}" for i in range(n)],
            "source": "review",
            "title": title,
            "body": body,
            "rating": rating,
            "language": [LANGS[i] for i in lang],
        }
    )
    result = score_texts(texts, SentimentConfig())
    print(result.summary)
    assert result.fallback is None and 0.6 < result.summary["macro_f1"] < 0.95


def test_log_count_ratio_weighs_up_the_words_of_a_label() -> None:
    from scipy import sparse

    from cx.models.sentiment.model import log_count_ratio

    # columns: only in the label's reviews, only in the others', in every review, absent
    x = sparse.csr_matrix(np.array([[1, 0, 1, 0], [2, 0, 1, 0], [0, 1, 1, 0], [0, 3, 1, 0]], dtype=float))
    member = np.array([True, True, False, False])
    r = log_count_ratio(x, member, 3.0)
    assert np.isclose(np.abs(r).max(), 3.0)
    assert r[0] > 0 > r[1] and np.isclose(r[0], -r[1])
    assert np.isclose(r[2], 0.0) and np.isclose(r[3], 0.0)
    # presence, not counts: a word written twice is no more telling
    assert np.allclose(log_count_ratio(x.multiply(5).tocsr(), member, 3.0), r)
