"""Retention and customer value: who is slipping away, and what each customer is worth
over the next ``horizon_days`` (``CX_RETENTION_HORIZON_DAYS``, default 90).

For every customer with a purchase on or before the run's day D: ``p_active`` (at least
one purchase in (D, D+H]), ``churn_risk = 1 - p_active``, ``expected_orders`` (purchase
days) and ``expected_value`` (net spend) in (D, D+H], bands and plain-word reasons;
and the day's retention target list (``_targets``).

How it is trained and chosen (``_core``):

- **Out of time.** Features are computed as of a cut from the history up to that cut
  only (``_features``); labels are what followed in (cut, cut+H]. The published
  learned model is trained on cuts whose horizons end on or before D (features as of
  D-H, labels from (D-H, D], plus earlier cuts stacked ``stack_step_days`` apart) and
  scores the features as of D: no label looks past D.
- **Candidates.** BG/NBD x Gamma-Gamma fitted with SciPy (``_btyd``; label-free), and
  gradient boosting on RFM, inter-purchase rhythm, trend, returns, web engagement,
  ratings, sentiment and tickets plus the BG/NBD terms (``_learned``). Baselines
  computed the same way: days since last purchase (calibrated on the training labels)
  for risk, past net spend per day times H for value.
- **Choice.** A time-based holdout: candidates trained with labels up to D-H are judged
  on (D-H, D] (buy-again AUC for risk; Spearman and top-decile capture for value).
  A candidate replaces the baseline only when its lift's paired-bootstrap z reaches
  ``gate_min_z``; risk and value are chosen separately and ``model_version`` names both
  when they differ. Every candidate's holdout metrics go to ``model_runs``.
- **Short history.** With less than 2H of order history (or too few customers and
  outcomes at the training cuts) there are no out-of-time labels to learn from or
  choose with: the label-free BG/NBD x Gamma-Gamma is published as
  ``bgnbd-gg-v1-label-free`` and ``model_runs`` says why.

Modules: ``_config`` names and :class:`RetentionConfig`; ``_features`` history at a cut
and outcomes after it; ``_btyd`` the likelihoods; ``_learned`` the learned model, its
training cuts and the baselines; ``_evaluation`` metrics and the paired bootstrap;
``_reasons`` bands and reasons; ``_targets`` consent, control arm and target list;
``_stage`` the warehouse.
"""

from __future__ import annotations

from cx.models.retention._config import MODEL, RetentionConfig
from cx.models.retention._core import RetentionResult, score_customers
from cx.models.retention._features import features_at, outcomes_after, transactions
from cx.models.retention._stage import compute, read_consent, run
from cx.models.retention._targets import arms, contactable, target_list

__all__ = [
    "MODEL",
    "RetentionConfig",
    "RetentionResult",
    "arms",
    "compute",
    "contactable",
    "features_at",
    "outcomes_after",
    "read_consent",
    "run",
    "score_customers",
    "target_list",
    "transactions",
]
