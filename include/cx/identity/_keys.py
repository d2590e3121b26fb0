"""Stable person keys across days, and the merges and splits that change them.

A new person's key is an HMAC of their smallest record key under a secret salt
(``p_`` + 16 hex digits; a collision with a key in use takes the next attempt). Why
not a counter: a counter needs the last number handed out (state beyond the mapping),
and numbers people in the order runs meet them, so two runs over the same records in
another order disagree on every key; the anchor's hash depends on the records only.
Why salted: record keys hold source ids (a CRM id, an order id) that must not be
recoverable from a published key, and without the secret they cannot be recomputed.

From one day to the next each previous key goes to the new cluster holding most of
its previous records (ties: the smaller cluster id); a cluster offered several keys
keeps the one whose records it holds most of, and the others are recorded as merged
into it; a previous person whose records now sit in several clusters is recorded as
split. Growth (new records joining a person) changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac

import pandas as pd

from cx.identity._config import RECORD_KEY

CHANGE_COLUMNS: tuple[str, ...] = ("kind", "keys_before", "keys_after", "reason")
KEY_PREFIX = "p_"


def person_key(anchor: str, salt: str, attempt: int = 0) -> str:
    """The key of a person first seen with record ``anchor`` (``attempt`` > 0 after a collision)."""
    message = anchor if attempt == 0 else f"{anchor}#{attempt}"
    return KEY_PREFIX + hmac.new(salt.encode(), message.encode(), hashlib.sha256).hexdigest()[:16]


def _inherited(clusters: pd.DataFrame, previous: pd.DataFrame) -> dict[str, str]:
    """cluster_id -> previous key: greedy on overlap, largest first, each key and cluster once."""
    overlap = (
        clusters.merge(previous, on=RECORD_KEY)
        .groupby(["person_key", "cluster_id"])
        .size()
        .rename("shared")
        .reset_index()
        .sort_values(["shared", "cluster_id", "person_key"], ascending=[False, True, True])
    )
    taken_keys: set[str] = set()
    assigned: dict[str, str] = {}
    for key, cluster_id in zip(overlap["person_key"], overlap["cluster_id"], strict=True):
        if key in taken_keys or cluster_id in assigned:
            continue
        assigned[cluster_id] = key
        taken_keys.add(key)
    return assigned


def _new_keys(cluster_ids: list[str], in_use: set[str], salt: str) -> dict[str, str]:
    keys = {}
    for cluster_id in sorted(cluster_ids):  # cluster_id is the cluster's smallest record key
        attempt = 0
        while (key := person_key(cluster_id, salt, attempt)) in in_use:
            attempt += 1
        keys[cluster_id] = key
        in_use.add(key)
    return keys


def assign_person_keys(
    clusters: pd.DataFrame,
    previous_mapping: pd.DataFrame | None,
    salt: str,
    links: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Person keys for today's clusters, kept from ``previous_mapping`` where they continue.

    ``clusters``: ``record_key``, ``cluster_id`` (:func:`cx.identity.cluster`).
    ``previous_mapping``: ``record_key``, ``person_key`` of the last run (None or empty
    on the first). ``links``: today's links, to name the evidence behind a merge.
    Returns the mapping (``record_key``, ``person_key``) and the changes
    (:data:`CHANGE_COLUMNS`; ``keys_before``/``keys_after`` are sorted lists). Raises
    ValueError for an empty salt.
    """
    if not salt:
        raise ValueError("assign_person_keys needs a salt (CX_PII_SALT): keys must not be computable from record ids")
    previous = _previous(previous_mapping)
    clusters = clusters[[RECORD_KEY, "cluster_id"]]
    inherited = _inherited(clusters, previous)
    in_use = set(previous["person_key"]) | set(inherited.values())
    fresh = _new_keys([c for c in clusters["cluster_id"].unique() if c not in inherited], in_use, salt)
    keys = {**inherited, **fresh}
    mapping = clusters.assign(person_key=clusters["cluster_id"].map(keys))[[RECORD_KEY, "person_key"]]
    changes = _changes(clusters.assign(person_key=mapping["person_key"]), previous, links)
    return mapping.sort_values(RECORD_KEY).reset_index(drop=True), changes


def _previous(previous_mapping: pd.DataFrame | None) -> pd.DataFrame:
    if previous_mapping is None or previous_mapping.empty:
        return pd.DataFrame({RECORD_KEY: pd.Series(dtype=object), "person_key": pd.Series(dtype=object)})
    return previous_mapping[[RECORD_KEY, "person_key"]]


def _changes(today: pd.DataFrame, previous: pd.DataFrame, links: pd.DataFrame | None) -> pd.DataFrame:
    both = today.merge(previous.rename(columns={"person_key": "key_before"}), on=RECORD_KEY)
    rows = []
    gone = set(previous[RECORD_KEY]) - set(today[RECORD_KEY])
    before_per_cluster = both.groupby("person_key")["key_before"].unique()
    for key_after, befores in before_per_cluster.items():
        if len(befores) > 1:
            reason = _merge_reason(both[both["person_key"] == key_after], links)
            rows.append(("merge", sorted(befores), [key_after], reason))
    after_per_key = both.groupby("key_before")["person_key"].unique()
    for key_before, afters in after_per_key.items():
        if len(afters) > 1:
            removed = previous[previous["person_key"].eq(key_before) & previous[RECORD_KEY].isin(gone)]
            if len(removed):
                reason = f"{len(removed)} record(s) that joined them no longer exist"
            else:
                reason = "the records no longer link: no evidence above the threshold joins them"
            rows.append(("split", [key_before], sorted(afters), reason))
    frame = pd.DataFrame(rows, columns=list(CHANGE_COLUMNS))
    return frame.sort_values(["kind", "keys_after"], key=lambda s: s.map(str)).reset_index(drop=True)


def _merge_reason(members: pd.DataFrame, links: pd.DataFrame | None) -> str:
    """The strongest link between records that belonged to different people."""
    if links is None or links.empty:
        return "new evidence links them"
    before = dict(zip(members[RECORD_KEY], members["key_before"], strict=True))
    left, right = links["record_key_l"].map(before), links["record_key_r"].map(before)
    bridging = links[left.notna() & right.notna() & (left != right)]
    if bridging.empty:  # joined through a new record linked to both
        return "a new record links to both"
    best = bridging.sort_values(["match_probability", "match_weight"], ascending=False, na_position="first").iloc[0]
    if best["match_rule"] != "probabilistic":
        return str(best["match_rule"]).replace("_", " ")
    return f"probabilistic match {best['match_probability']:.3f} (weight {best['match_weight']:.1f}; agreed: {best['agreed']})"
