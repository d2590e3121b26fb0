"""Identity resolution: which source records (CRM customers, guest orders, reviews,
helpdesk tickets, web logins) are the same person, under a stable person key.

Input: dbt's ``int_identity_records`` (one row per source record: ``source``,
``source_record_id``, ``customer_id``, ``email``, ``phone``, ``first_name``,
``last_name``, ``birth_date``, ``postcode``, ``city``) as a pandas frame or a DuckDB
relation. Steps, each a pure function:

1. :func:`standardise` (``_standardise``): names folded (case, accents, punctuation),
   e-mails and phones normalised, dates parsed; idempotent.
2. :func:`deterministic_links` (``_deterministic``): the same CRM id, normalised e-mail
   or phone always links.
3. :func:`train_model` (``_splink``) and :func:`score_pairs` / :func:`score_new_records`
   (``_score``): Splink 5 on an in-memory DuckDB, blocking rules, comparisons with
   term-frequency adjustments, EM-trained match weights; links at or above
   ``IdentityConfig.threshold``, each with the attributes that agreed and its weight.
4. :func:`cluster` (``_cluster``): connected components are people.
5. :func:`assign_person_keys` (``_keys``): stable salted keys; merges and splits
   recorded for ``identity_changes``.

:func:`resolve` runs them over every record, :func:`resolve_incremental` adds a day's
records to the people found so far. :func:`evaluate` and :func:`exact_key_clusters`
(``_evaluate``) score a clustering against the truth, beside the exact-key baseline.
docs/identity.md has the measurements and how to tune the threshold.
"""

from __future__ import annotations

from cx.identity._cluster import cluster
from cx.identity._config import (
    CONTRACT_ATTRIBUTES,
    INPUT_COLUMNS,
    MODEL,
    RECORD_KEY,
    Attribute,
    IdentityConfig,
    IdentityModel,
)
from cx.identity._deterministic import LINK_COLUMNS, deterministic_links
from cx.identity._evaluate import evaluate, exact_key_clusters
from cx.identity._keys import CHANGE_COLUMNS, assign_person_keys, person_key
from cx.identity._resolve import RECORD_COLUMNS, Resolution, resolve, resolve_incremental
from cx.identity._score import score_new_records, score_pairs
from cx.identity._splink import train_model
from cx.identity._standardise import IdentityInputError, standardise

__all__ = [
    "CHANGE_COLUMNS",
    "CONTRACT_ATTRIBUTES",
    "INPUT_COLUMNS",
    "LINK_COLUMNS",
    "MODEL",
    "RECORD_COLUMNS",
    "RECORD_KEY",
    "Attribute",
    "IdentityConfig",
    "IdentityInputError",
    "IdentityModel",
    "Resolution",
    "assign_person_keys",
    "cluster",
    "deterministic_links",
    "evaluate",
    "exact_key_clusters",
    "person_key",
    "resolve",
    "resolve_incremental",
    "score_new_records",
    "score_pairs",
    "standardise",
    "train_model",
]
