"""People: connected components of the links."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from cx.identity._config import RECORD_KEY


def cluster(record_keys: pd.Series | list[str], links: pd.DataFrame) -> pd.DataFrame:
    """``record_key``, ``cluster_id``: records joined by any chain of links are one person.

    ``cluster_id`` is the smallest record key of the component, so the same links give
    the same ids whatever the order of records or links. Links to records outside
    ``record_keys`` are ignored (a record deleted since).
    """
    keys = pd.Index(pd.unique(pd.Series(record_keys, dtype=object)))
    if keys.empty:
        return pd.DataFrame({RECORD_KEY: pd.Series(dtype=object), "cluster_id": pd.Series(dtype=object)})
    left = keys.get_indexer(links["record_key_l"]) if len(links) else np.array([], dtype=int)
    right = keys.get_indexer(links["record_key_r"]) if len(links) else np.array([], dtype=int)
    known = (left >= 0) & (right >= 0)
    size = len(keys)
    graph = coo_matrix((np.ones(int(known.sum())), (left[known], right[known])), shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    frame = pd.DataFrame({RECORD_KEY: keys.to_numpy(dtype=object), "component": labels})
    frame["cluster_id"] = frame.groupby("component")[RECORD_KEY].transform("min")
    return frame[[RECORD_KEY, "cluster_id"]].sort_values(RECORD_KEY).reset_index(drop=True)
