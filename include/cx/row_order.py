"""One canonical row order for the frames the model stages read.

DuckDB returns rows in no particular order (it depends on its threads and on how the
table was written), and the model stages are sensitive to row order: seeded samples
and folds pick rows by position, float sums depend on their order, stable sorts break
ties by position, LightFM shuffles its pairs in the order it receives them. Every
stage therefore puts its inputs in this order first, so that the same rows give the
same published outputs however they arrived.

The order is lexicographic on the given key columns, then on every other column (so
two rows tie only if they are equal), ascending, missing values last. Strings compare
by code point, as DuckDB's default collation does, so a result read with
``ORDER BY keys NULLS LAST`` is already in this order and checking it costs one pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

_LAST = np.iinfo(np.int64).max


def _float_key(values: np.ndarray) -> np.ndarray:
    """int64 keys in the order of the float values (-0.0 == 0.0), NaN last."""
    v = values.astype("float64") + 0.0
    bits = v.view(np.int64)
    key = bits ^ ((bits >> 63) & np.int64(0x7FFFFFFFFFFFFFFF))
    return np.where(np.isnan(v), _LAST, key)


def _sorted_categories(column: pd.Series) -> pd.Series:
    """The categorical column with its categories in sorted order (codes follow)."""
    categories = column.cat.categories
    try:
        ordered = categories.sort_values()
    except TypeError:  # mixed types: order by their text
        ordered = categories[np.argsort(categories.astype(str), kind="stable")]
    return column if categories.equals(ordered) else column.cat.reorder_categories(ordered)


def sort_key(column: pd.Series) -> np.ndarray:
    """int64 keys whose order is the column's value order, missing values last."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        codes = _sorted_categories(column).cat.codes.to_numpy().astype(np.int64)
        return np.where(codes < 0, _LAST, codes)
    if isinstance(dtype, np.dtype) and dtype.kind in "fiub":
        if dtype.kind == "f":
            return _float_key(column.to_numpy())
        return column.to_numpy().astype(np.int64)
    if isinstance(dtype, np.dtype) and dtype.kind in "mM":
        values = column.to_numpy().view(np.int64)
        return np.where(pd.isna(column).to_numpy(), _LAST, values)
    # Strings, objects and pandas' nullable types: rank of each distinct value.
    try:
        codes, _ = pd.factorize(column, sort=True)
    except TypeError:  # values of mixed types: order by their text
        codes, _ = pd.factorize(column.astype("string"), sort=True)
    codes = codes.astype(np.int64)
    return np.where(codes < 0, _LAST, codes)


def _columns(frame: pd.DataFrame, keys: Sequence[str]) -> list[str]:
    missing = [k for k in keys if k not in frame.columns]
    if missing:
        raise KeyError(f"sort keys not in the frame: {missing}")
    return [*keys, *(c for c in frame.columns if c not in keys)]


def sort_rows(frame: pd.DataFrame, keys: Sequence[str] = ()) -> pd.DataFrame:
    """``frame`` in the canonical order (see the module doc), with a fresh RangeIndex and
    categorical columns' categories sorted. Key columns are only read as far as needed
    to break ties; a frame already in order is returned without sorting (one pass)."""
    columns = _columns(frame, keys)
    out = frame.reset_index(drop=True)
    for name in columns:
        if isinstance(out[name].dtype, pd.CategoricalDtype):
            out[name] = _sorted_categories(out[name])
    n = len(out)
    if n < 2:
        return out
    # Already in order? Walk the columns while some neighbours still tie.
    tied = np.ones(n - 1, dtype=bool)
    in_order = True
    for name in columns:
        key = sort_key(out[name])
        a, b = key[:-1], key[1:]
        if (tied & (a > b)).any():
            in_order = False
            break
        tied &= a == b
        if not tied.any():
            break
    if in_order:
        return out
    # Sort by a growing prefix of the columns until no two neighbours tie.
    keys_so_far: list[np.ndarray] = []
    order = np.arange(n)
    for name in columns:
        keys_so_far.append(sort_key(out[name]))
        order = np.lexsort(keys_so_far[::-1])
        still_tied = np.ones(n - 1, dtype=bool)
        for key in keys_so_far:
            ordered = key[order]
            still_tied &= ordered[:-1] == ordered[1:]
        if not still_tied.any():
            break
    return out.take(order).reset_index(drop=True)


def order_by_sql(keys: Sequence[str]) -> str:
    """The ``ORDER BY`` clause that reads rows in :func:`sort_rows`' order, for a query
    whose every column is in ``keys`` (DuckDB does not allow ``ALL`` after other keys)."""
    return "order by " + ", ".join(f'"{k}" nulls last' for k in keys)
