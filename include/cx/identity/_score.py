"""Scored candidate pairs: Splink's match weight and probability, and why, per link."""

from __future__ import annotations

import pandas as pd
from splink import Linker

from cx.identity._config import RECORD_KEY, IdentityConfig, IdentityModel
from cx.identity._deterministic import LINK_COLUMNS, empty_links
from cx.identity._splink import SplinkSession

PROBABILISTIC = "probabilistic"


def _levels(model: IdentityModel) -> dict[tuple[str, int], str]:
    """(column, gamma) -> the level's label, e.g. ('last_name', 3) -> 'Jaro-Winkler >= 0.92'."""
    labels = {}
    for comparison in model.settings["comparisons"]:
        column = comparison["output_column_name"]
        levels = [level for level in comparison["comparison_levels"] if not level.get("is_null_level")]
        # Splink numbers the non-null levels from the highest (exact) down to 0 (else).
        for gamma, level in zip(range(len(levels) - 1, -1, -1), levels, strict=True):
            labels[(column, gamma)] = level.get("label_for_charts") or level["sql_condition"]
    return labels


def explain(predictions: pd.DataFrame, model: IdentityModel) -> pd.DataFrame:
    """Link rows from Splink's predictions: which attributes agreed, and each one's weight.

    ``agreed``: the attributes that agreed exactly or closely and so added evidence
    (positive partial match weight, term-frequency adjustment included); ``evidence``:
    every compared attribute as ``column: level (weight)``, nulls left out. The match
    weight is their sum plus the prior's (log2 odds).
    """
    if predictions.empty:
        return empty_links()
    labels = _levels(model)
    agreed = pd.Series("", index=predictions.index, dtype=object)
    evidence = pd.Series("", index=predictions.index, dtype=object)
    for column in model.attributes:
        gamma = predictions[f"gamma_{column}"].astype(int)
        weight = predictions[f"mw_{column}"].astype(float)
        if f"mw_tf_adj_{column}" in predictions:
            weight = weight + predictions[f"mw_tf_adj_{column}"].astype(float).fillna(0.0)
        compared = gamma != -1
        label = gamma.map(lambda g, c=column: labels.get((c, g), str(g)))
        part = column + ": " + label + " (" + weight.map("{:+.1f}".format) + ")"
        evidence = evidence.where(~compared, _joined(evidence, part, "; "))
        agreeing = compared & (gamma > 0) & (weight > 0)  # gamma 0 is "all other comparisons"
        agreed = agreed.where(~agreeing, _joined(agreed, pd.Series(column, index=agreed.index), ","))
    links = pd.DataFrame(
        {
            "record_key_l": predictions[f"{RECORD_KEY}_l"].astype(str),
            "record_key_r": predictions[f"{RECORD_KEY}_r"].astype(str),
            "match_rule": PROBABILISTIC,
            "match_weight": predictions["match_weight"].astype(float),
            "match_probability": predictions["match_probability"].astype(float),
            "agreed": agreed,
            "evidence": evidence,
        }
    )
    return links.sort_values(["record_key_l", "record_key_r"]).reset_index(drop=True)[list(LINK_COLUMNS)]


def _joined(left: pd.Series, right: pd.Series, sep: str) -> pd.Series:
    return left.where(left == "", left + sep) + right


def _tf_columns(model: IdentityModel) -> list[str]:
    return [
        comparison["output_column_name"]
        for comparison in model.settings["comparisons"]
        if any(level.get("tf_adjustment_column") for level in comparison["comparison_levels"])
    ]


def score_pairs(records: pd.DataFrame, model: IdentityModel, cfg: IdentityConfig | None = None) -> pd.DataFrame:
    """Every candidate pair of standardised ``records`` (the model's blocking rules) scoring
    at least ``cfg.threshold``, explained (:func:`explain`)."""
    cfg = cfg or IdentityConfig()
    with SplinkSession(cfg) as session:
        inputs = session.inputs(records, model.attributes, cfg, "records")
        linker = Linker(inputs if len(inputs) > 1 else inputs[0], model.settings, log_level=None)
        predictions = linker.inference.predict(threshold_match_probability=cfg.threshold, warning_mode="never")
        return explain(predictions.as_pandas_dataframe(), model)


def score_new_records(
    existing: pd.DataFrame, new: pd.DataFrame, model: IdentityModel, cfg: IdentityConfig | None = None
) -> pd.DataFrame:
    """Links of a new day's records: new against existing and new against new, through the
    blocking rules; the existing records are not compared with each other again.

    Term frequencies are counted over existing and new records together, as a full run
    would count them.
    """
    cfg = cfg or IdentityConfig()
    if new.empty:
        return empty_links()
    with SplinkSession(cfg) as session:
        everything = session.inputs(
            pd.concat([existing, new], ignore_index=True), model.attributes, cfg, "known_and_new"
        )
        linker = Linker(everything if len(everything) > 1 else everything[0], model.settings, log_level=None)
        for column in _tf_columns(model):
            linker.table_management.compute_tf_table(column)
        new_inputs = session.inputs(new, model.attributes, cfg, "new_records")
        parts = [
            linker.inference.predict_within(
                new_inputs if len(new_inputs) > 1 else new_inputs[0],
                threshold_match_probability=cfg.threshold,
                warning_mode="never",
            )
        ]
        if not existing.empty:
            old_inputs = session.inputs(existing, model.attributes, cfg, "known_records")
            parts.append(
                linker.inference.predict_between(
                    old_inputs, new_inputs, threshold_match_probability=cfg.threshold, warning_mode="never"
                )
            )
        frames = [part.as_pandas_dataframe() for part in parts]
    frames = [frame for frame in frames if not frame.empty]
    if not frames:
        return empty_links()
    return explain(pd.concat(frames, ignore_index=True), model)
