"""Train on the shop's rated reviews, score every review and ticket, gate against the lexicon.

Rated reviews are weak labels (1-2 negative, 3 neutral, 4-5 positive). Two levels:

- ridge regressions on TF-IDF character and word n-grams, title words and the lexicon
  score, each label class weighted equally: one of the star rating (ordinal: 2 stars is
  closer to 1 than to 5) and one per label (+1 for the label, -1 otherwise: what tells a
  three-star review from its neighbours is not on the line from 1 to 5 stars), on the
  features scaled by the label's log-count ratio (NB weighting);
- a logistic regression (classes weighted equally) on their out-of-fold outputs and the
  lexicon score: score = P(positive) - P(negative) in [-1, 1].

The label cuts the score at two points (below ``low`` negative, from ``high`` positive,
neutral between) tuned on out-of-fold scores for macro-F1 (:func:`tune_cuts`), so labels
and scores never disagree in sign. Measured against the ordinal ridge alone on real corpora
in docs/sentiment.md.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from cx.model_runs import Metric
from cx.models import sentiment_lexicon
from cx.models.sentiment.config import LABELS, SentimentConfig, SentimentResult, label_from_score, rating_to_label
from cx.models.sentiment.evaluation import (
    NEG,
    POS,
    _lexicon_wins,
    decide,
    evaluate,
    label_codes,
    rating_conflicts,
    tune_cuts,
)
from cx.models.sentiment.features import distinct_texts, fit_features, row_sample, stratified_sample
from cx.models.sentiment.text import build_documents, normalise_text
from cx.models.sentiment_lexicon import LEXICON_VERSION


def _class_weights(y: np.ndarray) -> np.ndarray:
    """Each label class to equal total weight: ratings are skewed to 5 stars and the
    minority classes are the interesting ones."""
    counts = pd.Series(y).value_counts()
    return (len(y) / (len(counts) * pd.Series(y).map(counts))).to_numpy(dtype=np.float64)


class _FirstLevel:
    """Ridge of the star rating on the features, and one ridge per label of its +1/-1
    indicator on the features scaled by that label's log-count ratio (NB weighting, Wang
    & Manning 2012): n-grams that tell the label apart weigh more before the penalty."""

    def __init__(self, rating: Ridge, ratios: list[np.ndarray], indicators: list[Ridge]) -> None:
        self.rating, self.ratios, self.indicators = rating, ratios, indicators

    def predict(self, x: sparse.spmatrix) -> np.ndarray:
        with threadpool_limits(limits=1, user_api="blas"):
            return np.column_stack(
                [self.rating.predict(x)]
                + [m.predict(x @ sparse.diags(r)) for r, m in zip(self.ratios, self.indicators, strict=False)]
            )


def log_count_ratio(x: sparse.spmatrix, member: np.ndarray, scale: float) -> np.ndarray:
    """Log of how much likelier each feature is present in the label's reviews than in the
    others' (add-one smoothed), scaled so the largest magnitude is ``scale``."""
    present = (x > 0).astype(np.float64)
    p = 1.0 + np.asarray(present[member].sum(axis=0)).ravel()
    q = 1.0 + np.asarray(present[~member].sum(axis=0)).ravel()
    r = np.log(p / p.sum()) - np.log(q / q.sum())
    top = np.abs(r).max()
    return r * (scale / top) if top > 0 else np.ones_like(r)


def _fit(x: sparse.spmatrix, stars: np.ndarray, y: np.ndarray, cfg: SentimentConfig) -> _FirstLevel:
    """Ridge regressions of the star rating and of each label's +1/-1 indicator."""
    codes = label_codes(y)
    weights = _class_weights(y)

    def ridge() -> Ridge:
        return Ridge(alpha=cfg.ridge_alpha, solver="sparse_cg", tol=1e-6, max_iter=cfg.max_iter)

    ratios, indicators = [], []
    # BLAS only does vector updates here; its threads just spin and fight the sparse
    # products (and the other Airflow tasks) for cores.
    with threadpool_limits(limits=1, user_api="blas"):
        rating = ridge().fit(x, stars.astype(np.float64), sample_weight=weights)
        for c in range(len(LABELS)):
            member = codes == c
            r = log_count_ratio(x, member, cfg.nb_scale) if cfg.nb_scale > 0 else np.ones(x.shape[1])
            indicators.append(ridge().fit(x @ sparse.diags(r), np.where(member, 1.0, -1.0), sample_weight=weights))
            ratios.append(r)
    return _FirstLevel(rating, ratios, indicators)


def _stack_inputs(model: _FirstLevel, x: sparse.spmatrix, lexicon: np.ndarray, cfg: SentimentConfig) -> np.ndarray:
    """Inputs of the stacking model: the predicted rating around the neutral 3 stars (2
    stars per unit, clipped to [-1, 1]), the three label indicators, the lexicon score."""
    out = model.predict(x)
    return np.column_stack(
        [
            np.clip((out[:, 0] - 3.0) / 2.0, -1.0, 1.0),
            out[:, 1:],
            np.asarray(lexicon, dtype=np.float64) * cfg.lexicon_feature_weight,
        ]
    )


def _fit_stack(inputs: np.ndarray, y: np.ndarray, cfg: SentimentConfig) -> LogisticRegression:
    with threadpool_limits(limits=1, user_api="blas"):
        return LogisticRegression(C=cfg.meta_c, class_weight="balanced", max_iter=1000).fit(inputs, label_codes(y))


def _stack_score(model: LogisticRegression, inputs: np.ndarray) -> np.ndarray:
    """P(positive) - P(negative), in [-1, 1] (a class absent from training has P = 0)."""
    proba = np.zeros((len(inputs), len(LABELS)))
    with threadpool_limits(limits=1, user_api="blas"):
        proba[:, model.classes_] = model.predict_proba(inputs)
    return proba[:, POS] - proba[:, NEG]


def order_texts(texts: pd.DataFrame) -> pd.DataFrame:
    """Reviews and tickets, one row per (source, text_id), in key order: samples, folds and
    vocabulary are drawn by position, so sorting makes the scores independent of the
    order the warehouse returns rows in. A duplicated key (not expected from fct_texts)
    keeps its greatest row by content, whatever the order."""
    texts = texts.copy()
    texts["source"] = texts["source"].astype("string").str.strip().str.lower()
    texts = texts.loc[texts["source"].isin(["review", "ticket"])]
    texts["text_id"] = texts["text_id"].astype("string")
    keys = ["source", "text_id"]
    dup = texts.duplicated(keys, keep=False)
    if dup.any():
        content = [c for c in ("title", "body", "rating", "language", "created_at") if c in texts.columns]
        rank = texts.loc[dup, keys].assign(
            **{f"_c{i}": texts.loc[dup, c].astype("string") for i, c in enumerate(content)}
        )
        rank = rank.sort_values(list(rank.columns), kind="stable", na_position="first")
        texts = pd.concat([texts.loc[~dup], texts.loc[rank.index]]).drop_duplicates(keys, keep="last")
    return texts.sort_values(keys, kind="stable").reset_index(drop=True)


def _crossfit(
    x: sparse.csr_matrix, stars: np.ndarray, y: np.ndarray, lexicon: np.ndarray, cfg: SentimentConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Out-of-fold stacking inputs, scores and labels of the labelled rows. Each fold's
    ridge outputs come from ridges that never saw it; its score from a stacking model
    fitted on the other folds' outputs; its labels from cut points tuned on the other
    folds' scores: the held-out macro-F1 flatters neither level nor the decision rule."""
    counts = pd.Series(y).value_counts()
    n_splits = int(min(cfg.eval_folds, max(2, counts.min()), len(y)))
    skf = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=cfg.seed)
    with warnings.catch_warnings():
        # A class rarer than n_splits is allowed: it is simply absent from some folds.
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        splits = list(skf.split(np.zeros(len(y)), y))
    inputs = np.zeros((len(y), 2 + len(LABELS)))
    for train, test in splits:
        inputs[test] = _stack_inputs(_fit(x[train], stars[train], y[train], cfg), x[test], lexicon[test], cfg)
    oof = np.zeros(len(y))
    for train, test in splits:
        oof[test] = _stack_score(_fit_stack(inputs[train], y[train], cfg), inputs[test])
    oof_label = np.empty(len(y), dtype=object)
    for train, test in splits:
        oof_label[test] = decide(oof[test], tune_cuts(oof[train], y[train]))
    return inputs, oof, oof_label, n_splits


@dataclass(frozen=True)
class _Prepared:
    """The texts in key order with what every path needs: which are reviews, their labels
    from the rating, and the lexicon score of each (computed once per distinct text)."""

    texts: pd.DataFrame
    empty: np.ndarray
    is_review: np.ndarray
    rating: pd.Series
    labels: pd.Series
    labelled: np.ndarray
    titles: pd.Series
    distinct: np.ndarray
    first: np.ndarray
    distinct_docs: list[str]
    distinct_lexicon: np.ndarray
    lexicon_score: np.ndarray
    lexicon_label: np.ndarray
    y: np.ndarray


def _prepare(texts: pd.DataFrame, cfg: SentimentConfig) -> tuple[_Prepared, dict[str, Any]]:
    """Order the texts, label the rated reviews, score every distinct text with the lexicon;
    and the first details for ``model_runs``."""
    texts = order_texts(texts)
    docs = build_documents(texts)
    empty = (docs.str.len() == 0).to_numpy()
    is_review = (texts["source"] == "review").to_numpy()
    rating = (
        pd.to_numeric(texts["rating"], errors="coerce") if "rating" in texts else pd.Series(np.nan, index=texts.index)
    )
    labels = rating_to_label(rating).where(is_review)
    labelled = labels.notna().to_numpy() & ~empty
    languages = texts["language"] if "language" in texts else pd.Series(None, index=texts.index)
    titles = texts["title"] if "title" in texts else pd.Series(None, index=texts.index)

    distinct, first = distinct_texts(docs, languages)
    distinct_docs = docs.iloc[first].tolist()
    distinct_lexicon = sentiment_lexicon.score_texts(distinct_docs, languages.iloc[first].tolist(), cfg.lexicon)
    lexicon_score = distinct_lexicon[distinct]
    lexicon_label = label_from_score(lexicon_score, cfg.lexicon.neutral_threshold())
    y = labels[labelled].to_numpy(dtype=object)
    class_counts = {lab: int((y == lab).sum()) for lab in LABELS}
    details: dict[str, Any] = {
        "labelled_reviews": int(labelled.sum()),
        "class_counts": class_counts,
        "languages": languages.astype("string").fillna("unknown").value_counts().head(10).to_dict(),
    }
    prepared = _Prepared(
        texts,
        empty,
        is_review,
        rating,
        labels,
        labelled,
        titles,
        distinct,
        first,
        distinct_docs,
        distinct_lexicon,
        lexicon_score,
        lexicon_label,
        y,
    )
    return prepared, details


def _train_and_score(
    p: _Prepared, cfg: SentimentConfig, details: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, dict[str, float | None]]:
    """Train on the rated reviews and score every text: training reviews keep their
    out-of-fold scores and labels. Returns scores, labels and the held-out evaluation."""
    distinct, first, labels, y = p.distinct, p.first, p.labels, p.y
    normalised = [normalise_text(d) for d in p.distinct_docs]
    # The document is keyed by its title, so each distinct text has one title.
    titles_first = p.titles.iloc[first]
    titles_n = [normalise_text(t) for t in titles_first.astype(object).where(titles_first.notna(), "")]
    # TF-IDF vocabulary and IDF come from a seeded sample of all texts (no labels
    # involved), so tickets and unrated reviews shape the features they are scored with.
    vocab_rows = row_sample(len(p.texts), cfg.vocab_sample, cfg.seed)
    weights = np.bincount(distinct[vocab_rows], minlength=len(first))
    fitted = np.flatnonzero(weights)
    features = fit_features([normalised[i] for i in fitted], weights[fitted], cfg, [titles_n[i] for i in fitted])
    labelled_idx = np.flatnonzero(p.labelled)
    train_idx = labelled_idx[stratified_sample(y, cfg.max_labelled, cfg.seed)]
    y_train = labels[train_idx].to_numpy(dtype=object)
    # Up to one batch, every distinct text is featurised once and the training rows are
    # taken from it; above, the training rows are featurised on their own.
    x_all = features.transform(normalised, p.distinct_lexicon, titles_n) if len(first) <= cfg.batch_size else None
    x_train = (
        x_all[distinct[train_idx]]
        if x_all is not None
        else features.transform(
            [normalised[i] for i in distinct[train_idx]],
            p.lexicon_score[train_idx],
            [titles_n[i] for i in distinct[train_idx]],
        )
    )
    stars = p.rating.to_numpy(dtype=np.float64)[train_idx]
    inputs, oof, oof_label, n_splits = _crossfit(x_train, stars, y_train, p.lexicon_score[train_idx], cfg)
    cuts = tune_cuts(oof, y_train)
    final, stack = _fit(x_train, stars, y_train, cfg), _fit_stack(inputs, y_train, cfg)
    del x_train
    # Every distinct text once, in batches: the full matrix would not fit at 1M texts.
    distinct_score = np.zeros(len(first))
    for start in range(0, len(first), cfg.batch_size):
        batch = slice(start, start + cfg.batch_size)
        x = (
            x_all[batch]
            if x_all is not None
            else features.transform(normalised[batch], p.distinct_lexicon[batch], titles_n[batch])
        )
        distinct_score[batch] = _stack_score(stack, _stack_inputs(final, x, p.distinct_lexicon[batch], cfg))
    score = distinct_score[distinct]
    score[train_idx] = oof  # training reviews keep their out-of-fold (honest) scores
    label = decide(score, cuts)
    label[train_idx] = oof_label
    model_eval = evaluate(y, score[p.labelled], label[p.labelled])
    details["neutral_band"] = [round(cuts[0], 6), round(cuts[1], 6)]
    details["trained_on"] = int(len(train_idx))
    details["vocabulary_from"] = int(len(vocab_rows))
    details["evaluation"] = f"{n_splits}-fold stratified cross-fitting on rated reviews (seed {cfg.seed})"
    details["features"] = features.n_features
    return score, label, model_eval


def _frames(
    p: _Prepared, score: np.ndarray, label: np.ndarray, conflict: np.ndarray, version: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The published review and ticket rows."""
    texts, is_review = p.texts, p.is_review
    reviews = pd.DataFrame(
        {
            "review_id": texts.loc[is_review, "text_id"].astype("string").to_numpy(),
            "sentiment_score": score[is_review].astype("float64"),
            "sentiment_label": label[is_review].astype(str),
            "model_version": version,
            "rating": p.rating[is_review].round().astype("Int32").to_numpy(),  # INTEGER, as in fct_texts
            "rating_conflict": conflict[is_review].astype(bool),
        }
    ).astype({"review_id": "string", "sentiment_label": "string", "model_version": "string"})
    tickets = pd.DataFrame(
        {
            "ticket_id": texts.loc[~is_review, "text_id"].astype("string").to_numpy(),
            "sentiment_score": score[~is_review].astype("float64"),
            "sentiment_label": label[~is_review].astype(str),
            "model_version": version,
        }
    ).astype({"ticket_id": "string", "sentiment_label": "string", "model_version": "string"})
    return reviews, tickets


def _metrics(
    *,
    labelled: np.ndarray,
    conflict: np.ndarray,
    model_eval: dict[str, float | None],
    baseline: dict[str, float | None],
    fallback: str | None,
    version: str,
    details: dict[str, Any],
    cfg: SentimentConfig,
) -> list[Metric]:
    """The ``model_runs`` metrics: the model against the lexicon, conflicts, the fallback."""
    rated = int(labelled.sum())
    conflict_rate = float(conflict[labelled].mean()) if rated else None

    def passed(metric: str) -> bool | None:
        value, base = model_eval.get(metric), baseline.get(metric)
        if fallback or value is None or base is None:
            return None
        return value >= base

    return [
        Metric("macro_f1", model_eval.get("macro_f1"), baseline.get("macro_f1"), passed("macro_f1"), details),
        Metric("roc_auc", model_eval.get("roc_auc"), baseline.get("roc_auc"), passed("roc_auc"), details),
        Metric(
            "rating_conflict_rate",
            conflict_rate,
            None,
            None,
            {"conflicts": int(conflict[labelled].sum()), "rated_reviews": rated, "threshold": cfg.conflict_threshold},
        ),
        Metric(
            "fallback",
            1.0 if fallback else 0.0,
            None,
            None,
            {
                "fallback": fallback or "none",
                "published": version,
                "reason": _reason(fallback, details, model_eval, baseline),
            },
        ),
    ]


def score_texts(texts: pd.DataFrame, cfg: SentimentConfig) -> SentimentResult:
    """Score every review and ticket of ``texts`` (marts.fct_texts columns)."""
    p, details = _prepare(texts, cfg)
    labelled, y = p.labelled, p.y
    n_classes = sum(1 for c in details["class_counts"].values() if c)
    fallback: str | None = None
    if labelled.sum() < cfg.min_labelled or n_classes < 2:
        fallback = "lexicon"
        reason = (
            f"{int(labelled.sum())} rated reviews < min_labelled={cfg.min_labelled}"
            if labelled.sum() < cfg.min_labelled
            else f"only {n_classes} rating class(es)"
        )
        details.update({"fallback": fallback, "reason": reason})
        version = LEXICON_VERSION
        score, label = p.lexicon_score.copy(), p.lexicon_label.astype(object)
        model_eval = evaluate(y, score[labelled], label[labelled]) if labelled.any() else {}
        details["evaluation"] = "lexicon on all rated reviews (no model trained)"
    else:
        version = cfg.model_version
        score, label, model_eval = _train_and_score(p, cfg, details)
    baseline = evaluate(y, p.lexicon_score[labelled], p.lexicon_label[labelled]) if labelled.any() else {}
    details["f1_per_class"] = {lab: model_eval.get(f"f1_{lab}") for lab in LABELS}
    details["lexicon_f1_per_class"] = {lab: baseline.get(f"f1_{lab}") for lab in LABELS}
    if fallback is None and _lexicon_wins(model_eval, baseline):
        # Champion/challenger on the same held-out reviews: a model that cannot beat the
        # lexicon it was given as a feature has learnt noise (too few or too noisy ratings).
        fallback = "lexicon"
        details.update(
            {
                "fallback": fallback,
                "challenger": {"model_version": version, **model_eval},
                "reason": (
                    f"the lexicon beat the trained model on held-out rated reviews "
                    f"(macro-F1 {baseline['macro_f1']:.3f} vs {model_eval['macro_f1']:.3f})"
                ),
            }
        )
        version = LEXICON_VERSION
        score, label = p.lexicon_score.copy(), p.lexicon_label.astype(object)
        model_eval = dict(baseline)

    # Nothing to read: no evidence either way.
    score = np.where(p.empty, 0.0, score)
    label = np.where(p.empty, "neutral", label)
    conflict = rating_conflicts(p.rating, score, cfg.conflict_threshold) & p.is_review
    reviews, tickets = _frames(p, score, label, conflict, version)
    metrics = _metrics(
        labelled=labelled,
        conflict=conflict,
        model_eval=model_eval,
        baseline=baseline,
        fallback=fallback,
        version=version,
        details=details,
        cfg=cfg,
    )
    summary = {
        "reviews": len(reviews),
        "tickets": len(tickets),
        "model_version": version,
        "fallback": fallback,
        "macro_f1": model_eval.get("macro_f1"),
        "roc_auc": model_eval.get("roc_auc"),
        "baseline_macro_f1": baseline.get("macro_f1"),
        "baseline_roc_auc": baseline.get("roc_auc"),
        "rating_conflicts": int(reviews["rating_conflict"].sum()),
    }
    return SentimentResult(reviews, tickets, metrics, version, fallback, summary)


def _reason(
    fallback: str | None, details: dict[str, Any], model: dict[str, float | None], lexicon: dict[str, float | None]
) -> str:
    """Why the published scores are the model's or the lexicon's, for ``model_runs``."""
    if fallback:
        return str(details["reason"])
    f1_m, f1_l = model.get("macro_f1"), lexicon.get("macro_f1")
    if f1_m is None or f1_l is None:
        return "the trained model was published (no held-out macro-F1 to compare)"
    return (
        f"the trained model was not beaten by the lexicon on held-out rated reviews (macro-F1 {f1_m:.3f} vs {f1_l:.3f})"
    )
