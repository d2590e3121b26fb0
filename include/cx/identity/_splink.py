"""Splink 5 on an in-memory DuckDB: the model's comparisons and rules, and its training.

Splink runs in its own in-memory DuckDB connection (never the warehouse: it creates and
drops many tables, and the warehouse has one writer at a time). Nothing is downloaded:
every comparison uses DuckDB's built-in string functions.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import duckdb
import pandas as pd
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

from cx.identity._config import RECORD_KEY, Attribute, IdentityConfig, IdentityModel

_log = logging.getLogger(__name__)
SOURCE_DATASET = "source"


def _name_comparison(column: str, other: str | None):
    """Splink's NameComparison levels, plus "equal / close to the other name field"."""
    levels = [cll.NullLevel(column), cll.ExactMatchLevel(column).configure(tf_adjustment_column=column)]
    swapped = f'"{column}_l" = "{other}_r" or "{column}_r" = "{other}_l"'
    if other:
        levels.append(cll.CustomLevel(swapped, f"{column} equals the other's {other}"))
    levels += [cll.JaroWinklerLevel(column, 0.92), cll.JaroWinklerLevel(column, 0.88)]
    if other:
        close = (
            f'jaro_winkler_similarity("{column}_l", "{other}_r") >= 0.88'
            f' or jaro_winkler_similarity("{column}_r", "{other}_l") >= 0.88'
        )
        levels.append(cll.CustomLevel(close, f"{column} close to the other's {other}"))
    levels += [cll.JaroWinklerLevel(column, 0.7), cll.ElseLevel()]
    return cl.CustomComparison(comparison_levels=levels, output_column_name=column)


def _comparison(attribute: Attribute):
    column, kind = attribute.column, attribute.kind
    if kind == "name":
        comparison = _name_comparison(column, attribute.swapped_with)
    elif kind == "date":
        comparison = cl.DateOfBirthComparison(column, input_is_string=False)
    elif kind == "email":
        comparison = cl.EmailComparison(column)
    elif kind in ("phone", "identifier"):
        comparison = cl.DamerauLevenshteinAtThresholds(column, [1, 2])
    elif kind == "postcode":
        comparison = cl.DamerauLevenshteinAtThresholds(column, [1])
    else:  # free text: an address line
        comparison = cl.JaroWinklerAtThresholds(column, [0.9, 0.7])
    if attribute.term_frequency:
        comparison = comparison.configure(term_frequency_adjustments=True)
    return comparison


def present_attributes(records: pd.DataFrame, cfg: IdentityConfig) -> tuple[Attribute, ...]:
    """Attributes with at least two non-null values: the others cannot be compared or trained."""
    attributes = tuple(a for a in cfg.attributes if records[a.column].notna().sum() >= 2)
    present = {a.column for a in attributes}
    return tuple(a if a.swapped_with in present else replace(a, swapped_with=None) for a in attributes)


def _rule(rule: tuple[str, ...]):
    """``block_on`` columns; ``a>b`` items compare a on the left with b on the right."""
    if not any(">" in item for item in rule):
        return block_on(*rule)
    terms = []
    for item in rule:
        left, _, right = item.partition(">")
        terms.append(f'l."{left}" = r."{right or left}"')
    return " and ".join(terms)


def _rules(rules: tuple[tuple[str, ...], ...], present: set[str]) -> list:
    return [_rule(rule) for rule in rules if {c for item in rule for c in item.split(">")} <= present]


def settings_for(cfg: IdentityConfig, attributes: tuple[Attribute, ...]) -> SettingsCreator:
    present = {a.column for a in attributes}
    return SettingsCreator(
        link_type=cfg.link_type,
        unique_id_column_name=RECORD_KEY,
        source_dataset_column_name=SOURCE_DATASET if cfg.link_type == "link_only" else None,
        comparisons=[_comparison(a) for a in attributes],
        blocking_rules_to_generate_predictions=_rules(cfg.blocking_rules, present),
        retain_intermediate_calculation_columns=True,
        max_iterations=cfg.em_max_iterations,
    )


def splink_input(records: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """What Splink sees: the record key, its source and the compared attributes only."""
    frame = records[[RECORD_KEY, SOURCE_DATASET, *columns]].copy()
    for column in columns:
        values = frame[column]
        if values.map(type).astype(str).str.contains("date").any():
            frame[column] = pd.to_datetime(values)
        else:
            frame[column] = values.astype(object)
    return frame


class SplinkSession:
    """A DuckDB connection and Splink API around it; closes with the ``with`` block."""

    def __init__(self, cfg: IdentityConfig):
        self.connection = duckdb.connect()
        if cfg.threads:
            self.connection.execute(f"set threads = {int(cfg.threads)}")
        self.api = DuckDBAPI(connection=self.connection)

    def inputs(self, records: pd.DataFrame, columns: tuple[str, ...], cfg: IdentityConfig, name: str) -> list:
        """``records`` registered: one table, or one per source for ``link_only``."""
        frame = splink_input(records, columns)
        if cfg.link_type != "link_only":
            return [self.api.register(frame, table_name=name)]
        return [
            self.api.register(part.reset_index(drop=True), table_name=f"{name}_{i}")
            for i, (_, part) in enumerate(frame.groupby(SOURCE_DATASET, sort=True))
        ]

    def __enter__(self) -> SplinkSession:
        return self

    def __exit__(self, *_: object) -> None:
        self.connection.close()


def train_model(records: pd.DataFrame, cfg: IdentityConfig | None = None) -> IdentityModel:
    """Match weights trained on standardised ``records`` (no labels needed).

    The prior (how likely two random records are one person) comes from the share of
    pairs agreeing on every column of ``cfg.prior_rules``, scaled by ``cfg.prior_recall``;
    u (agreement by chance) from ``cfg.u_max_pairs`` random pairs with ``cfg.seed``; m
    (agreement among matches) by expectation-maximisation within each of
    ``cfg.em_blocking_rules``' blocks, each training the attributes outside its rule.
    """
    cfg = cfg or IdentityConfig()
    attributes = present_attributes(records, cfg)
    if not attributes:
        raise ValueError("no identifying attribute has two values: nothing to train on")
    present = {a.column for a in attributes}
    with SplinkSession(cfg) as session:
        inputs = session.inputs(records, tuple(a.column for a in attributes), cfg, "train")
        linker = Linker(inputs if len(inputs) > 1 else inputs[0], settings_for(cfg, attributes), log_level=None)
        prior_rules = _rules(cfg.prior_rules, present)
        if prior_rules:
            linker.training.estimate_probability_two_random_records_match(prior_rules, recall=cfg.prior_recall)
        linker.training.estimate_u_using_random_sampling(max_pairs=cfg.u_max_pairs, seed=cfg.seed)
        for rule in _rules(cfg.em_blocking_rules, present):
            try:
                linker.training.estimate_parameters_using_expectation_maximisation(rule)
            except Exception as error:  # a block without pairs on this data: the others train
                _log.warning("EM session %s skipped: %s", rule, type(error).__name__)
        settings = linker.misc.save_model_to_json()
    return IdentityModel(
        settings=settings, attributes=tuple(a.column for a in attributes), model_version=cfg.model_version
    )
