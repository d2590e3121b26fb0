"""The day's retention target list: the customers with the most expected value at
risk, whom marketing may contact, split into a stable control group and the rest."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from cx.models.retention._config import TARGET_COLUMNS, RetentionConfig

CONTROL, TREATMENT = "control", "treatment"


def contactable(customer_ids: pd.Series, consent: pd.DataFrame | None) -> np.ndarray:
    """False only where the CRM says marketing_consent is false; unknown (null, an
    absent customer, or no marketing_consent column at all) is not a refusal."""
    if consent is None or "marketing_consent" not in consent.columns:
        return np.ones(len(customer_ids), dtype=bool)
    refused = consent.loc[consent["marketing_consent"].astype("boolean").eq(False).fillna(False), "customer_id"]
    return ~customer_ids.astype("string").isin(refused.astype("string")).to_numpy(dtype=bool)


def arms(customer_ids: pd.Series, experiment: str, control_share: float) -> np.ndarray:
    """control or treatment from a hash of (experiment, customer_id): the same customer
    stays in the same arm every day and on every machine, and another experiment draws
    an independent split."""
    cut = int(control_share * 10_000)
    buckets = np.fromiter(
        (
            int.from_bytes(hashlib.sha256(f"{experiment}\x1f{cid}".encode()).digest()[:8], "big") % 10_000
            for cid in customer_ids.astype("string")
        ),
        dtype=np.int64,
        count=len(customer_ids),
    )
    return np.where(buckets < cut, CONTROL, TREATMENT).astype(object)


def target_list(values: pd.DataFrame, consent: pd.DataFrame | None, cfg: RetentionConfig) -> pd.DataFrame:
    """The top ``cfg.targets_top_n`` contactable customers by expected value at risk:
    churn_risk times what they are expected to spend if they stay active
    (expected_value / p_active, p_active floored), ties by customer_id."""
    p = values["p_active"].clip(lower=cfg.p_active_floor)
    at_risk = (values["churn_risk"] * values["expected_value"] / p).round(2)
    frame = pd.DataFrame({"customer_id": values["customer_id"].astype("string"), "expected_value_at_risk": at_risk})
    frame = frame.loc[contactable(frame["customer_id"], consent) & (frame["expected_value_at_risk"] > 0)]
    frame = frame.sort_values(["expected_value_at_risk", "customer_id"], ascending=[False, True], kind="stable")
    frame = frame.head(cfg.targets_top_n).reset_index(drop=True)
    frame["rank"] = np.arange(1, len(frame) + 1, dtype="int64")
    frame["experiment"] = cfg.experiment
    frame["arm"] = arms(frame["customer_id"], cfg.experiment, cfg.control_share)
    return frame[TARGET_COLUMNS]
