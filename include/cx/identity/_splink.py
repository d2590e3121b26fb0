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
import pyarrow as pa
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


def _email_comparison(column: str):
    """Exact; the same user name at another domain; a one-letter slip in the user name.

    Not Splink's Jaro-Winkler on the whole address: the shared domain (gmail.com) makes
    strangers' addresses "similar", and a different address is weak evidence (people
    have several), not evidence of a typo.
    """
    user = tuple(f"regexp_extract(\"{column}_{side}\", '^[^@]+')" for side in "lr")
    return cl.CustomComparison(
        comparison_levels=[
            cll.NullLevel(column),
            cll.ExactMatchLevel(column),
            cll.CustomLevel(f"{user[0]} = {user[1]}", "same user name, other domain"),
            cll.CustomLevel(f"damerau_levenshtein({user[0]}, {user[1]}) <= 1", "user name one edit apart"),
            cll.ElseLevel(),
        ],
        output_column_name=column,
    )


def _comparison(attribute: Attribute):
    column, kind = attribute.column, attribute.kind
    if kind == "name":
        comparison = _name_comparison(column, attribute.swapped_with)
    elif kind == "date":
        comparison = cl.DateOfBirthComparison(column, input_is_string=False)
    elif kind == "email":
        comparison = _email_comparison(column)
    elif kind == "phone":
        comparison = cl.DamerauLevenshteinAtThresholds(column, [1])
    elif kind == "identifier":
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
        linker_uid="cxidentity",  # Splink's default is random: the same training gives the same model file
    )


def splink_input(records: pd.DataFrame, columns: tuple[str, ...], dates: frozenset[str]) -> pa.Table:
    """What Splink sees: the record key, its source and the compared attributes only,
    typed (strings, dates) so that a day whose records lack an attribute entirely still
    compares with the days that have it."""
    fields = [(name, pa.date32() if name in dates else pa.string()) for name in (RECORD_KEY, SOURCE_DATASET, *columns)]
    arrays = []
    for name, kind in fields:
        values = records[name].astype(object).where(records[name].notna(), None)
        arrays.append(pa.array(values.tolist(), type=kind))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


class SplinkSession:
    """A DuckDB connection and Splink API around it; closes with the ``with`` block."""

    def __init__(self, cfg: IdentityConfig):
        self.connection = duckdb.connect()
        if cfg.threads:
            self.connection.execute(f"set threads = {int(cfg.threads)}")
        self.api = DuckDBAPI(connection=self.connection)

    def inputs(self, records: pd.DataFrame, columns: tuple[str, ...], cfg: IdentityConfig, name: str) -> list:
        """``records`` registered: one table, or one per source for ``link_only``."""
        dates = frozenset(a.column for a in cfg.attributes if a.kind == "date")
        parts = (
            [records] if cfg.link_type != "link_only" else [p for _, p in records.groupby(SOURCE_DATASET, sort=True)]
        )
        return [
            self.api.register(splink_input(part, columns, dates), table_name=f"{name}_{i}")
            for i, part in enumerate(parts)
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
        data = inputs if len(inputs) > 1 else inputs[0]
        linker = Linker(data, settings_for(cfg, attributes), log_level=None)
        prior_rules = _rules(cfg.prior_rules, present)
        if prior_rules:
            linker.training.estimate_probability_two_random_records_match(prior_rules, recall=cfg.prior_recall)
        linker.training.estimate_u_using_random_sampling(max_pairs=cfg.u_max_pairs, seed=cfg.seed)
        for rule in _rules(cfg.em_blocking_rules, present):
            linker = _em_session(linker, data, rule, cfg)
        settings = _floor_m(linker.misc.save_model_to_json(), cfg.min_m_probability)
    return IdentityModel(
        settings=settings, attributes=tuple(a.column for a in attributes), model_version=cfg.model_version
    )


def _floor_m(settings: dict, floor: float) -> dict:
    """m of every trained level raised to at least ``floor``.

    EM drives a level's m to (nearly) zero when the blocks it trained on hold no match
    at that level (no e-mail typo among a few hundred duplicates, say); log2(m/u) then
    calls any future pair at that level impossible. A floor keeps it strong evidence
    against, not a veto.
    """
    for comparison in settings["comparisons"]:
        for level in comparison["comparison_levels"]:
            m = level.get("m_probability")
            if isinstance(m, float) and m < floor:
                level["m_probability"] = floor
    return settings


def _em_session(linker: Linker, data: object, rule: object, cfg: IdentityConfig) -> Linker:
    """One EM session; if it fails, again from the same start with fewer iterations,
    and skipped (the linker as it was) when even the shortest run fails.

    EM fails when a level's m collapses to zero: a block made almost only of matches (a
    shared birth date on small data) leaves a level seen only among the few non-matches
    with no match mass, and Splink 5 refuses an m of 0, leaving its settings half
    updated. Stopping EM earlier (``cfg.em_retry_iterations``) is the usual remedy.
    """
    before = linker.misc.save_model_to_json()
    sql = rule if isinstance(rule, str) else rule.get_blocking_rule("duckdb").blocking_rule_sql
    for attempt, iterations in enumerate((cfg.em_max_iterations, *cfg.em_retry_iterations)):
        if attempt:
            linker = Linker(data, {**before, "max_iterations": iterations}, log_level=None)
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(rule)
        except ValueError as error:
            _log.info("identity model: EM on %s, %d iterations: %s", sql, iterations, str(error).split(".")[0])
            continue
        if attempt:  # the next session starts from the configured iterations again
            trained = linker.misc.save_model_to_json()
            linker = Linker(data, {**trained, "max_iterations": cfg.em_max_iterations}, log_level=None)
        return linker
    _log.warning("identity model: EM session blocked on %s skipped: it does not converge on this data", sql)
    return Linker(data, before, log_level=None)
