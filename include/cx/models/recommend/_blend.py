"""The blended recommender, and its weights learned on a validation slice."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from cx.models.recommend._baselines import PurchaseSignals
from cx.models.recommend._candidates import candidate_batches
from cx.models.recommend._config import BLEND_TERMS, RecommendConfig
from cx.models.recommend._lightfm import FittedRecommender
from cx.models.recommend._terms import blend_terms


@dataclass
class Recommender:
    """The published model: LightFM and purchase signals as of ``reference``, blended."""

    lightfm: FittedRecommender
    signals: PurchaseSignals
    weights: np.ndarray  # one per BLEND_TERMS
    reference: pd.Timestamp
    cfg: RecommendConfig
    details: dict[str, Any] = field(default_factory=dict)

    def scores(self, users: np.ndarray) -> np.ndarray:
        terms = blend_terms(users, self.lightfm, self.signals, self.cfg)
        return np.tensordot(self.weights, terms, axes=1).astype("float32")

    def lightfm_only(self) -> Recommender:
        """The same fit with the blend switched off: plain LightFM, for comparison."""
        only = np.zeros(len(BLEND_TERMS), dtype="float32")
        only[BLEND_TERMS.index("lightfm")] = 1.0
        return replace(self, weights=only)

    @property
    def blend(self) -> dict[str, float]:
        return {name: round(float(w), 4) for name, w in zip(BLEND_TERMS, self.weights, strict=False)}


@dataclass
class _ValidationTable:
    """Per batch: candidate terms (terms, users, slots), whether a slot holds a
    candidate, and whether the customer bought it in the validation window."""

    terms: list[np.ndarray]
    valid: list[np.ndarray]
    bought: list[np.ndarray]
    n_users: int


def _validation_table(
    fitted: FittedRecommender,
    signals: PurchaseSignals,
    users: np.ndarray,
    bought: sparse.csr_matrix,
    allowed: np.ndarray,
    cfg: RecommendConfig,
) -> _ValidationTable:
    """The candidates' terms (see candidate_batches): the table stays small however
    large the catalogue."""
    table = _ValidationTable([], [], [], len(users))
    for cand in candidate_batches(fitted, signals, users, allowed, cfg):
        table.terms.append(cand.terms)
        table.valid.append(cand.valid)
        hit = bought[cand.users].toarray() > 0
        table.bought.append(np.take_along_axis(hit, cand.items, axis=1) & cand.valid)
    return table


def _precision(table: _ValidationTable, weights: np.ndarray, k: int) -> float:
    hits = 0
    for terms, valid, bought in zip(table.terms, table.valid, table.bought, strict=False):
        score = np.where(valid, np.tensordot(weights, terms, axes=1), -np.inf)
        kk = min(k, score.shape[1])
        top = np.argpartition(-score, kk - 1, axis=1)[:, :kk]
        hits += int(np.take_along_axis(bought, top, axis=1).sum())
    return hits / (k * max(table.n_users, 1))


def learn_blend(table: _ValidationTable, cfg: RecommendConfig) -> tuple[np.ndarray, float, float]:
    """Coordinate ascent on precision@k from the configured weights; frequency stays the
    anchor. A step is taken only when it gains at least ``blend_min_gain``, so noise
    keeps the defaults.

    Returns (weights, validation precision of the defaults, of the learned weights).
    """
    weights = cfg.blend_weights.copy()
    start = best = _precision(table, weights, cfg.eval_k)
    for _ in range(cfg.blend_rounds):
        improved = False
        for term in range(1, len(BLEND_TERMS)):
            candidate, candidate_p = weights, best
            for value in cfg.blend_grid:
                trial = weights.copy()
                trial[term] = value
                p = _precision(table, trial, cfg.eval_k)
                if p > candidate_p + 1e-12:
                    candidate, candidate_p = trial, p
            if candidate_p >= best + cfg.blend_min_gain:
                weights, best, improved = candidate, candidate_p, True
        if not improved:
            break
    return weights, start, best
