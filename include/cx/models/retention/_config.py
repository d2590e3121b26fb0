"""The stage's names, versions, output columns and hyperparameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cx.config import Settings
from cx.models._stage import config_from_settings

MODEL = "retention"
# Candidates (each one's model_version when it is published).
VERSION_LEARNED = "gbm-v1"  # gradient boosting on the cut's features (scikit-learn)
VERSION_BTYD = "bgnbd-gg-v1"  # BG/NBD x Gamma-Gamma (SciPy maximum likelihood)
VERSION_BASELINE_RISK = "baseline-recency-v1"  # days since last purchase, calibrated
VERSION_BASELINE_VALUE = "baseline-spend-rate-v1"  # past net spend per day x horizon
# Short history: BG/NBD needs no labels; the version says it was the fallback.
VERSION_LABEL_FREE = "bgnbd-gg-v1-label-free"

VALUE_COLUMNS = [
    "customer_id",
    "p_active",
    "churn_risk",
    "expected_orders",
    "expected_value",
    "risk_band",
    "value_band",
    "reasons",
    "model_version",
]
TARGET_COLUMNS = ["customer_id", "rank", "expected_value_at_risk", "experiment", "arm"]

_SETTINGS_FIELDS = {
    "horizon_days": "retention_horizon_days",
    "targets_top_n": "retention_targets_top_n",
    "control_share": "retention_control_share",
    "experiment": "retention_experiment",
    "seed": "seed",
}


@dataclass(frozen=True)
class RetentionConfig:
    """Hyperparameters of the retention stage; horizon, targets, control share,
    experiment and seed mirror cx.config.Settings."""

    horizon_days: int = 90
    seed: int = 42
    # Training stacks several cuts, ``stack_step_days`` apart (more customers and more
    # moments in their lives than one cut gives), each with a full horizon of labels.
    stack_cuts: int = 3
    stack_step_days: int = 30
    # A cut is usable for training when this many customers had bought by then and both
    # outcomes (bought again or not) occur at least ``min_class`` times.
    min_train_customers: int = 50
    min_class: int = 10
    # Training and the holdout use a fixed-seed sample of this many customers (all when
    # fewer): at 1M customers the stage's cost is then the scoring of everyone as of D,
    # not the learning, and 30k customers over a few cuts are plenty for 27 features.
    model_customers: int = 30_000
    # BG/NBD and Gamma-Gamma have 4 + 3 population parameters: fitted on a fixed-seed
    # sample of this many customers, then every customer is scored.
    btyd_fit_customers: int = 30_000
    # Gradient boosting (HistGradientBoosting: fast, handles missing values). Small trees
    # and a slow rate: chosen on UCI's holdout inside the training period (labels up to
    # D-H), where larger trees overfit the few thousand training rows.
    gbm_max_iter: int = 100
    gbm_learning_rate: float = 0.03
    gbm_max_leaf_nodes: int = 7
    gbm_min_samples_leaf: int = 80
    gbm_l2: float = 1.0
    # Evaluation: paired bootstrap of the holdout metrics on a fixed-seed sample
    # (resamples of at most ``bootstrap_resample`` customers, see paired_lift).
    bootstrap: int = 100
    bootstrap_resample: int = 5_000
    # A candidate replaces the baseline only when its lift's bootstrap z reaches this.
    gate_min_z: float = 2.0
    # Money: the spend rate of a customer is taken over at least this many days (a
    # customer seen for a day has no rate worth extrapolating).
    min_rate_days: int = 30
    # Bands a marketer reads: churn_risk thresholds, value quantiles among buyers.
    risk_band_edges: tuple[float, float] = (1 / 3, 2 / 3)  # low | medium | high
    value_band_quantiles: tuple[float, float] = (0.5, 0.8)  # low | medium | high
    max_reasons: int = 3
    # Targets: the top expected value at risk; p_active is floored here when the value
    # if retained is derived from the expected value (expected_value / p_active).
    targets_top_n: int = 1000
    control_share: float = 0.1
    experiment: str = "retention-save"
    p_active_floor: float = 0.05

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> RetentionConfig:
        return config_from_settings(cls, settings, _SETTINGS_FIELDS, **overrides)
