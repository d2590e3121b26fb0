"""The whole stage: standardise, link, cluster, key; in full or for a new day's records."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from cx.identity._cluster import cluster
from cx.identity._config import RECORD_KEY, IdentityConfig, IdentityModel
from cx.identity._deterministic import LINK_COLUMNS, deterministic_links, empty_links
from cx.identity._keys import assign_person_keys
from cx.identity._score import score_new_records, score_pairs
from cx.identity._splink import present_attributes, train_model
from cx.identity._standardise import IdentityInputError, standardise

RECORD_COLUMNS: tuple[str, ...] = (
    "source",
    "source_record_id",
    RECORD_KEY,
    "person_key",
    "match_probability",
    "match_rule",
)
SINGLE = "single"


@dataclass(frozen=True)
class Resolution:
    """One run's result.

    ``records``: :data:`RECORD_COLUMNS`, one row per source record; ``match_probability``
    and ``match_rule`` are those of the record's strongest link (1.0 and ``same_<key>``
    for deterministic evidence; NaN and ``single`` for a record alone).
    ``links``: the links found (``cx.identity.LINK_COLUMNS``; in an incremental run,
    those of the new records). ``changes``: merges and splits against the previous
    mapping (``cx.identity.CHANGE_COLUMNS``). ``standardised``: the standardised input
    with ``person_key``, ``match_probability`` and ``match_rule``, what the next day's
    :func:`resolve_incremental` takes as ``existing`` (personal data: restricted zone).
    """

    records: pd.DataFrame
    links: pd.DataFrame
    changes: pd.DataFrame
    standardised: pd.DataFrame
    model: IdentityModel | None  # None: no attribute to compare, deterministic links only


def _links(frames: list[pd.DataFrame | None]) -> pd.DataFrame:
    frames = [f for f in frames if f is not None and not f.empty]
    if not frames:
        return empty_links()
    return pd.concat(frames, ignore_index=True)[list(LINK_COLUMNS)]


def _best_link(record_keys: pd.Series, links: pd.DataFrame, earlier: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per record, its strongest link's probability and rule (deterministic first);
    ``earlier``: the records' best links from a previous run, still standing."""
    columns = ["match_probability", "match_rule"]
    ends = [
        links[["record_key_l", *columns]].rename(columns={"record_key_l": RECORD_KEY}),
        links[["record_key_r", *columns]].rename(columns={"record_key_r": RECORD_KEY}),
    ]
    if earlier is not None:
        ends.append(earlier.loc[earlier["match_rule"].ne(SINGLE), [RECORD_KEY, *columns]])
    ends = pd.concat([e for e in ends if not e.empty] or [ends[0]], ignore_index=True)
    ends["deterministic"] = ends["match_rule"] != "probabilistic"
    order = ["match_probability", "deterministic", "match_rule"]
    best = ends.sort_values(order, ascending=[False, False, True], kind="stable").drop_duplicates(RECORD_KEY)
    frame = pd.DataFrame({RECORD_KEY: record_keys}).merge(best[[RECORD_KEY, *columns]], how="left")
    frame["match_rule"] = frame["match_rule"].fillna(SINGLE)
    return frame


def _result(
    standardised: pd.DataFrame,
    links: pd.DataFrame,
    mapping: pd.DataFrame,
    changes: pd.DataFrame,
    model: IdentityModel | None,
    earlier: pd.DataFrame | None = None,
) -> Resolution:
    keyed = standardised.drop(columns=["person_key", "match_probability", "match_rule"], errors="ignore")
    keyed = keyed.merge(mapping, on=RECORD_KEY).merge(_best_link(keyed[RECORD_KEY], links, earlier), on=RECORD_KEY)
    records = keyed[list(RECORD_COLUMNS)].sort_values(RECORD_KEY).reset_index(drop=True)
    return Resolution(records=records, links=links, changes=changes, standardised=keyed, model=model)


def resolve(
    records: pd.DataFrame,
    salt: str,
    cfg: IdentityConfig | None = None,
    model: IdentityModel | None = None,
    previous_mapping: pd.DataFrame | None = None,
) -> Resolution:
    """Resolve every record into people (the initial load, or a periodic full re-run).

    ``records``: the ``int_identity_records`` frame or relation. ``model``: trained
    weights to reuse (None: trained on these records, :func:`train_model`; records
    with no comparable attribute at all are linked deterministically only).
    ``previous_mapping`` (``record_key``, ``person_key``): keys to keep (None: first run).
    """
    cfg = cfg or IdentityConfig()
    standardised = standardise(records, cfg)
    if model is None and present_attributes(standardised, cfg):
        model = train_model(standardised, cfg)
    scored = score_pairs(standardised, model, cfg) if model is not None else None
    links = _links([deterministic_links(standardised, cfg), scored])
    clusters = cluster(standardised[RECORD_KEY], links)
    mapping, changes = assign_person_keys(clusters, previous_mapping, salt, links)
    return _result(standardised, links, mapping, changes, model)


def resolve_incremental(
    existing: pd.DataFrame,
    new: pd.DataFrame,
    model: IdentityModel | None,
    salt: str,
    cfg: IdentityConfig | None = None,
) -> Resolution:
    """Add a new day's records to the people resolved so far.

    ``existing``: the records resolved before, with their ``person_key`` (the previous
    :attr:`Resolution.standardised`). ``new``: today's records (``int_identity_records``
    rows); a record delivered again (same source and id) replaces its old version and
    is matched afresh. New records are compared with existing ones through the blocking
    rules, and with each other; existing records are not compared with each other again,
    so existing people only grow or merge here (a split needs a full :func:`resolve`).
    ``model`` None: deterministic links only (as :func:`resolve` without attributes).
    """
    cfg = cfg or IdentityConfig()
    if "person_key" not in existing.columns:
        raise IdentityInputError("existing records need their person_key (the previous resolution)")
    fresh = standardise(new, cfg)
    old = standardise(existing, cfg)  # idempotent: a no-op on a previous Resolution.standardised
    previous_mapping = old[[RECORD_KEY, "person_key"]]
    old = old[~old[RECORD_KEY].isin(fresh[RECORD_KEY])].reset_index(drop=True)
    old_records = old.drop(columns=["person_key", "match_probability", "match_rule"], errors="ignore")
    everything = pd.concat([old_records, fresh], ignore_index=True)
    people = old.assign(anchor=old.groupby("person_key")[RECORD_KEY].transform("min"))
    membership = pd.DataFrame({"record_key_l": people[RECORD_KEY], "record_key_r": people["anchor"]})
    links = _links(
        [
            deterministic_links(everything, cfg, only=fresh[RECORD_KEY]),
            score_new_records(old_records, fresh, model, cfg) if model is not None else None,
        ]
    )
    clusters = cluster(everything[RECORD_KEY], pd.concat([membership, links[["record_key_l", "record_key_r"]]]))
    mapping, changes = assign_person_keys(clusters, previous_mapping, salt, links)
    earlier = old[[RECORD_KEY, "match_probability", "match_rule"]] if "match_rule" in old else None
    return _result(everything, links, mapping, changes, model, earlier)
