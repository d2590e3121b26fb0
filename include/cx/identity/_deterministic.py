"""Deterministic evidence: records sharing a CRM id, a normalised e-mail or a phone always link."""

from __future__ import annotations

import duckdb
import pandas as pd

from cx.identity._config import RECORD_KEY, IdentityConfig

LINK_COLUMNS: tuple[str, ...] = (
    "record_key_l",
    "record_key_r",
    "match_rule",
    "match_weight",
    "match_probability",
    "agreed",
    "evidence",
)


def deterministic_links(
    records: pd.DataFrame, cfg: IdentityConfig | None = None, only: pd.Series | None = None
) -> pd.DataFrame:
    """One link per record to the first record (smallest ``record_key``) sharing its value.

    Links form a star per shared value rather than every pair: the same people after
    clustering, in linear size (a shop's 5,000 orders by one e-mail are 4,999 links, not
    12 million). ``records`` are standardised (:func:`standardise`). ``only``: the
    record keys whose links are wanted (a new day's records); the others' links are not
    returned. Columns: :data:`LINK_COLUMNS`; ``match_rule`` is ``same_<key>``.
    """
    cfg = cfg or IdentityConfig()
    keys = [k for k in cfg.deterministic_keys if k in records.columns]
    if not keys or records.empty:
        return empty_links()
    con = duckdb.connect()
    try:
        con.register("records", records[[RECORD_KEY, *keys]])
        parts = [
            f"""
            select {RECORD_KEY} as record_key_l,
                   min({RECORD_KEY}) over (partition by "{key}") as record_key_r,
                   'same_{key}' as match_rule
            from records where "{key}" is not null"""
            for key in keys
        ]
        links = con.sql(" union all ".join(parts)).filter("record_key_l <> record_key_r").df()
    finally:
        con.close()
    if only is not None:
        wanted = set(only)
        links = links[links["record_key_l"].isin(wanted) | links["record_key_r"].isin(wanted)]
    links["match_weight"] = float("nan")
    links["match_probability"] = 1.0
    links["agreed"] = links["match_rule"].str.removeprefix("same_")
    links["evidence"] = "deterministic: equal " + links["agreed"]
    return links.sort_values(["record_key_l", "match_rule"]).reset_index(drop=True)[list(LINK_COLUMNS)]


def empty_links() -> pd.DataFrame:
    """A links frame without rows, typed as the full ones."""
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in LINK_COLUMNS})
    return frame.astype({"match_weight": float, "match_probability": float})
