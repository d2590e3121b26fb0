"""The pure core: choose a candidate on a time-based holdout, refit it on the newest
labels, score every buyer as of the run's day."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from cx.errors import NothingToDo
from cx.models.retention._btyd import Btyd
from cx.models.retention._config import (
    VALUE_COLUMNS,
    VERSION_BASELINE_RISK,
    VERSION_BASELINE_VALUE,
    VERSION_BTYD,
    VERSION_LABEL_FREE,
    VERSION_LEARNED,
    RetentionConfig,
)
from cx.models.retention._evaluation import METRICS, paired_lift
from cx.models.retention._features import day_number, outcomes_after
from cx.models.retention._learned import TrainingSet, btyd_scores, design, fit_baseline, fit_learned, training_set
from cx.models.retention._reasons import bands, reasons

RISK, VALUE = "risk", "value"
# Which metrics decide each choice (the first) and which are reported beside it.
DECIDING = {RISK: "auc", VALUE: "spearman"}
REPORTED = {RISK: ("auc",), VALUE: ("spearman", "top_decile_capture")}
BASELINES = {RISK: VERSION_BASELINE_RISK, VALUE: VERSION_BASELINE_VALUE}


@dataclass
class RetentionResult:
    values: pd.DataFrame  # VALUE_COLUMNS, one row per buyer
    model_version: str
    label_free: bool
    holdout: dict[str, dict[str, Any]] = field(default_factory=dict)  # candidate -> metric -> value / lift
    chosen: dict[str, str] = field(default_factory=dict)  # risk/value -> the chosen candidate's name
    details: dict[str, Any] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)  # what was fitted for the day (kept as an artefact)


def _outcome(y: pd.DataFrame, name: str) -> np.ndarray:
    return y[name].to_numpy("float64") if name == "value" else y[name].to_numpy(bool)


def _evaluate(scores: dict[str, pd.DataFrame], y: pd.DataFrame, cfg: RetentionConfig) -> dict[str, dict[str, Any]]:
    """Every candidate's holdout metrics and its lift over the baseline of the same target."""
    index = y.index
    baseline = scores["baseline"].loc[index]
    out: dict[str, dict[str, Any]] = {}
    for name, frame in scores.items():
        frame = frame.loc[index]
        row: dict[str, Any] = {}
        for target in (RISK, VALUE):
            column = "p_active" if target == RISK else "expected_value"
            for metric in REPORTED[target]:
                outcome, function = METRICS[metric]
                lift = paired_lift(
                    function,
                    frame[column].to_numpy("float64"),
                    baseline[column].to_numpy("float64"),
                    _outcome(y.loc[index], outcome),
                    0 if name == "baseline" else cfg.bootstrap,  # no lift over itself to test
                    cfg.seed,
                    cfg.bootstrap_resample,
                )
                row[metric] = {"value": lift.value, "baseline": lift.baseline, "z": lift.z}
        out[name] = row
    return out


def _choose(holdout: dict[str, dict[str, Any]], target: str, cfg: RetentionConfig) -> str:
    """The candidate with the best deciding metric among those whose lift over the
    baseline reaches ``gate_min_z`` (and, for value, that do not capture significantly
    less of the top decile); the baseline when none does."""
    metric = DECIDING[target]
    passing = []
    for name, row in holdout.items():
        if name == "baseline":
            continue
        z = row[metric]["z"]
        worse = any((row[m]["z"] or 0.0) <= -cfg.gate_min_z for m in REPORTED[target] if m != metric)
        if z is not None and z >= cfg.gate_min_z and not worse:
            passing.append((row[metric]["value"], name))
    return max(passing)[1] if passing else "baseline"


CANDIDATE_VERSIONS = {"learned": VERSION_LEARNED, "btyd": VERSION_BTYD}


def score_customers(
    tx: pd.DataFrame,
    as_of: date,
    cfg: RetentionConfig,
    web: pd.DataFrame | None = None,
    texts: pd.DataFrame | None = None,
) -> RetentionResult:
    """Risk and value of every customer with a purchase on or before ``as_of`` over the
    next ``cfg.horizon_days`` days. ``tx`` is :func:`transactions` of the orders; rows
    after ``as_of`` are ignored (the run's day is the last one any label may use)."""
    # One BLAS/OpenMP thread: the fits are many and small, and on a shared worker the
    # threads' hand-offs cost more than they save (4x on the likelihood fits).
    with threadpool_limits(limits=1):
        return _score(tx, as_of, cfg, web, texts)


def _score(
    tx: pd.DataFrame, as_of: date, cfg: RetentionConfig, web: pd.DataFrame | None, texts: pd.DataFrame | None
) -> RetentionResult:
    today, horizon = day_number(as_of), cfg.horizon_days
    tx = tx.loc[tx["day"] <= today]
    # Integer codes for the ids while computing: every cut groups by customer, and
    # grouping integers is several times faster than grouping strings.
    codes, ids = pd.factorize(tx["customer_id"], sort=True)
    tx = tx.assign(customer_id=codes)
    web, texts = (_coded(frame, ids, today) for frame in (web, texts))
    features, btyd = design(tx, today, web, texts, cfg)
    if features.empty or btyd is None:
        raise NothingToDo(f"no customer with a purchase on or before {as_of}")
    first = int(tx.loc[tx["purchases"] > 0, "day"].min())
    history = today - first
    details: dict[str, Any] = {"history_days": history, "horizon_days": horizon, "customers": len(features)}
    m_tx, m_web, m_texts = _model_sample(len(ids), cfg, tx, web, texts)
    assert m_tx is not None
    validation = training_set(m_tx, today - horizon, m_web, m_texts, cfg) if history >= 2 * horizon else None
    final = training_set(m_tx, today, m_web, m_texts, cfg) if validation is not None else None
    if validation is None or final is None:
        details["label_free_reason"] = (
            f"history of {history} days is shorter than twice the horizon ({2 * horizon} days)"
            if history < 2 * horizon
            else f"too few customers or outcomes at the training cuts (at least {cfg.min_train_customers} "
            f"customers and {cfg.min_class} of each outcome)"
        )
        return _label_free(features, btyd, cfg, details, ids)

    # Holdout: candidates trained with labels up to D - H, judged on (D - H, D].
    check = today - horizon
    at_check, _ = design(m_tx, check, m_web, m_texts, cfg)
    y = outcomes_after(m_tx, check, horizon, at_check.index)
    scores = {
        "learned": fit_learned(validation, cfg).score(at_check),
        "btyd": btyd_scores(at_check),
        "baseline": fit_baseline(validation, cfg).score(at_check),
    }
    holdout = _evaluate(scores, y, cfg)
    chosen = {target: _choose(holdout, target, cfg) for target in (RISK, VALUE)}
    details.update(
        validation_cuts=_iso(validation.cuts),
        training_cuts=_iso(final.cuts),
        holdout_customers=len(y),
        holdout_buy_again_rate=round(float(y["bought"].mean()), 4),
    )
    # The chosen ones refitted on the newest labels (up to D), scored as of D.
    today_scores, models = fit_today(set(chosen.values()), final, features, btyd, cfg)
    risk, value = today_scores[chosen[RISK]], today_scores[chosen[VALUE]]
    version = _version(chosen)
    values = _assemble(features, risk["p_active"], value["expected_orders"], value["expected_value"], version, cfg, ids)
    return RetentionResult(values, version, False, holdout, chosen, details, models)


def _model_sample(n: int, cfg: RetentionConfig, *frames: pd.DataFrame | None) -> tuple[pd.DataFrame | None, ...]:
    """The frames restricted to a fixed-seed sample of ``cfg.model_customers`` of the
    ``n`` customer codes (unchanged when there are no more)."""
    if n <= cfg.model_customers:
        return frames
    keep = np.zeros(n, dtype=bool)
    keep[np.random.default_rng(cfg.seed).choice(n, cfg.model_customers, replace=False)] = True
    return tuple(None if f is None else f.loc[keep[f["customer_id"].to_numpy()]] for f in frames)


def _coded(frame: pd.DataFrame | None, ids: pd.Index, today: int) -> pd.DataFrame | None:
    """``frame``'s rows up to ``today`` of the customers in ``ids``, by their code."""
    if frame is None:
        return None
    codes = pd.Index(ids).get_indexer(frame["customer_id"].astype("string"))
    keep = (codes >= 0) & (frame["day"].to_numpy() <= today)
    return frame.loc[keep].assign(customer_id=codes[keep])


def fit_today(
    names: set[str], final: TrainingSet, features: pd.DataFrame, btyd: Btyd, cfg: RetentionConfig
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Candidates ``names`` (the baseline always) fitted with labels up to D and scored on
    the features as of D; and the fitted models."""
    models: dict[str, Any] = {"baseline": fit_baseline(final, cfg)}
    if "learned" in names:
        models["learned"] = fit_learned(final, cfg)
    if "btyd" in names:
        models["btyd"] = btyd
    scores = {
        name: btyd_scores(features) if name == "btyd" else model.score(features) for name, model in models.items()
    }
    return scores, models


def _iso(days: tuple[int, ...]) -> list[str]:
    return [str(np.datetime64(int(d), "D")) for d in days]


def _version(chosen: dict[str, str]) -> str:
    """One model: its version; risk and value from different ones: both, labelled."""
    names = {target: CANDIDATE_VERSIONS.get(name, BASELINES[target]) for target, name in chosen.items()}
    if chosen[RISK] == chosen[VALUE] and chosen[RISK] != "baseline":
        return names[RISK]
    return f"risk:{names[RISK]}+value:{names[VALUE]}"


def _label_free(
    features: pd.DataFrame, model: Btyd, cfg: RetentionConfig, details: dict[str, Any], ids: pd.Index
) -> RetentionResult:
    scored = btyd_scores(features)
    values = _assemble(
        features, scored["p_active"], scored["expected_orders"], scored["expected_value"], VERSION_LABEL_FREE, cfg, ids
    )
    details["bgnbd"] = vars(model.bgnbd)
    details["gamma_gamma"] = vars(model.gamma_gamma)
    return RetentionResult(values, VERSION_LABEL_FREE, True, {}, {}, details, {"btyd": model})


def _assemble(
    features: pd.DataFrame,
    p_active: pd.Series,
    expected_orders: pd.Series,
    expected_value: pd.Series,
    version: str,
    cfg: RetentionConfig,
    ids: pd.Index,
) -> pd.DataFrame:
    p = np.clip(p_active.to_numpy("float64"), 0.0, 1.0)
    # At least one purchase is expected whenever one is likely: E[N] >= P(N > 0).
    orders = np.maximum(expected_orders.to_numpy("float64"), p)
    value = np.maximum(expected_value.to_numpy("float64"), 0.0)
    risk = 1.0 - p
    risk_band, value_band = bands(risk, value, cfg)
    out = pd.DataFrame(
        {
            "customer_id": pd.Index(ids)[features.index.to_numpy()].astype("string"),
            "p_active": np.round(p, 4),
            "churn_risk": np.round(risk, 4),
            "expected_orders": np.round(orders, 3),
            "expected_value": np.round(value, 2),
            "risk_band": risk_band,
            "value_band": value_band,
            "reasons": reasons(features, risk, cfg),
            "model_version": version,
        }
    )
    return out[VALUE_COLUMNS].sort_values("customer_id", kind="stable").reset_index(drop=True)
