"""Evaluation against known truth: pairwise precision and recall, cluster purity, and
the exact-key baseline scored the same way."""

from __future__ import annotations

import pandas as pd

from cx.identity._config import RECORD_KEY

BASELINE_KEY: tuple[str, ...] = ("first_name", "last_name", "birth_date")


def _pairs(sizes: pd.Series) -> int:
    sizes = sizes.astype("int64")
    return int((sizes * (sizes - 1) // 2).sum())


def evaluate(clusters: pd.DataFrame, truth: pd.DataFrame, truth_column: str = "truth") -> dict[str, float]:
    """Scores of a clustering (``record_key``, ``cluster_id``) against ``truth``
    (``record_key`` and ``truth_column``: the true person of each record).

    Pairwise: every two records in one cluster is a predicted pair, every two with one
    true person a true pair. Counted from the cluster x truth contingency table, so a
    million records cost no more than a group-by. ``purity``: the share of records
    whose cluster's most common true person is theirs (1.0 = nothing over-merged).
    ``completeness`` is the same with roles swapped (1.0 = nothing split).
    Records missing from ``truth`` or with a null truth are left out.
    """
    frame = clusters[[RECORD_KEY, "cluster_id"]].merge(truth[[RECORD_KEY, truth_column]], on=RECORD_KEY)
    frame = frame[frame[truth_column].notna()]
    cells = frame.groupby(["cluster_id", truth_column]).size()
    true_positive = _pairs(cells)
    predicted = _pairs(frame.groupby("cluster_id").size())
    actual = _pairs(frame.groupby(truth_column).size())
    records = len(frame)
    return {
        "records": float(records),
        "true_pairs": float(actual),
        "predicted_pairs": float(predicted),
        "pairwise_precision": true_positive / predicted if predicted else 1.0,
        "pairwise_recall": true_positive / actual if actual else 1.0,
        "pairwise_f1": 2 * true_positive / (predicted + actual) if predicted + actual else 1.0,
        "purity": cells.groupby(level=0).max().sum() / records if records else 1.0,
        "completeness": cells.groupby(level=1).max().sum() / records if records else 1.0,
        "people": float(frame["cluster_id"].nunique()),
    }


def exact_key_clusters(records: pd.DataFrame, key: tuple[str, ...] = BASELINE_KEY) -> pd.DataFrame:
    """The baseline: records equal on every column of ``key`` (standardised, none null)
    are one person, every other record alone. Same frame as :func:`cx.identity.cluster`."""
    frame = records[[RECORD_KEY, *key]].copy()
    complete = frame[list(key)].notna().all(axis=1)
    values = pd.Series(list(zip(*(frame[c].map(str) for c in key), strict=True)), index=frame.index)
    frame["group"] = values.where(complete, frame[RECORD_KEY].map(lambda k: ("\x00", k)))
    frame["cluster_id"] = frame.groupby("group")[RECORD_KEY].transform("min")
    return frame[[RECORD_KEY, "cluster_id"]].sort_values(RECORD_KEY).reset_index(drop=True)
