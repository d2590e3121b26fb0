"""Shared test set-up: tests never touch the demo warehouse or the network.

Tiers (markers declared in pyproject.toml): ``e2e`` runs a pipeline through dbt or
Airflow, ``airflow`` imports or starts Airflow, ``dbt`` starts a dbt process, ``slow``
takes over a few seconds. ``make test-fast`` runs everything else (pure units on frames
and small DuckDB files); ``make test`` runs all of them.

Shared fixtures: ``built_warehouse`` is one generated landing zone, ingested and built
by dbt once per session, for the tests that only read a built warehouse.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("AIRFLOW__COSMOS__ENABLE_TELEMETRY", "False")

# Tiers of modules being rewritten on other branches, until each declares its own
# (a module-level ``pytestmark`` or a mark on the test): move an entry into its module
# and drop it here. Slow tests of otherwise fast modules are listed by name (those
# over ~2 s on a busy 2-core machine); a name no test has any more is reported.
_MODULE_TIERS: dict[str, tuple[str, ...]] = {
    "test_backfill.py": ("airflow", "dbt"),
    "test_dag_integrity.py": ("airflow", "dbt"),
    "test_run_airflow.py": ("airflow", "dbt"),
    "test_run_process.py": ("dbt",),
    "test_run_verdict.py": ("airflow", "dbt"),
    "test_ui_app.py": ("airflow",),
    "test_ui_browser.py": ("airflow",),
    "test_quality.py": ("slow",),  # every test builds a Great Expectations context
    "test_forecast.py": ("slow",),  # Prophet fits
    "test_sentiment_real.py": ("slow",),  # trains on the real review samples
}
_SLOW_TESTS: dict[str, frozenset[str]] = {
    "test_publish.py": frozenset(
        {
            "test_older_day_rerun_publishes_its_partitions_and_keeps_the_current_state",
            "test_order_facts_follow_the_marts_row_for_row",
        }
    ),
    "test_recommend.py": frozenset(
        {
            "test_cold_start_user_and_item",
            "test_gate_falls_back_when_model_is_worse",
            "test_hybrid_beats_popularity_on_taste_data",
            "test_run_writes_tables",
            "test_same_lists_and_metrics_whatever_the_row_order_and_threads",
        }
    ),
    "test_segmentation.py": frozenset(
        {
            "test_identity_is_stable_day_to_day",
            "test_lapsed_buyers_are_recovered_next_to_many_non_buyers",
            "test_non_buyers_are_not_split_without_engagement_features",
            "test_planted_groups_are_recovered",
            "test_renamed_when_behaviour_changed_but_id_kept",
            "test_run_upgrades_an_older_table_and_restarts_identities_after_a_model_change",
            "test_run_writes_segments_and_model_runs",
            "test_same_segments_whatever_the_row_order_and_threads",
            "test_unmatched_cluster_gets_a_new_id",
        }
    ),
    "test_sentiment.py": frozenset(
        {
            "test_bounded_samples_batches_and_repeated_texts",
            "test_imbalanced_ratings_keep_the_minority_classes",
            "test_rating_conflict_in_pipeline_with_strong_text",
            "test_run_writes_tables_and_model_runs",
            "test_trained_model_beats_chance_and_lexicon",
        }
    ),
}


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Skip importing a module the mark expression deselects whole (``make test-fast``):
    importing Airflow alone takes seconds."""
    tiers = _MODULE_TIERS.get(collection_path.name, ())
    expression = config.getoption("markexpr", "") or ""
    if tiers and any(f"not {tier}" in expression for tier in tiers):
        return True
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    modules = {}
    for item in items:
        module = item.path.name
        for tier in _MODULE_TIERS.get(module, ()):
            item.add_marker(getattr(pytest.mark, tier))
        if getattr(item, "originalname", item.name) in _SLOW_TESTS.get(module, ()):
            item.add_marker(pytest.mark.slow)
        if getattr(item, "module", None) is not None:
            modules[module] = item.module
    stale = sorted(
        f"{name}::{test}"
        for name, module in modules.items()
        for test in _SLOW_TESTS.get(name, ())
        if not hasattr(module, test)
    )
    if stale:
        config.issue_config_time_warning(
            pytest.PytestWarning(f"tests/conftest.py lists slow tests that no longer exist: {stale}"), stacklevel=2
        )


@dataclass(frozen=True)
class BuiltWarehouse:
    """A landing zone and the warehouse dbt built from all of it."""

    landing_dir: Path
    warehouse: Path
    artifacts_dir: Path
    first_day: date
    last_day: date

    def env(self) -> dict[str, str]:
        return {
            "CX_LANDING_DIR": str(self.landing_dir),
            "CX_WAREHOUSE": str(self.warehouse),
            "CX_ARTIFACTS_DIR": str(self.artifacts_dir),
        }

    def copy_to(self, folder: Path) -> Path:
        """A writable copy of the warehouse file, for a test that changes it."""
        folder.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy(self.warehouse, folder / self.warehouse.name))


BUILT_START = date(2024, 3, 1)
BUILT_DAYS = 14


@pytest.fixture(scope="session")
def built_warehouse(tmp_path_factory: pytest.TempPathFactory) -> BuiltWarehouse:
    """14 generated days (300 customers, defects at 20x their usual rate so every kind
    occurs), ingested and built by dbt once for the session. Read it; copy it to write."""
    from cx.config import load_settings
    from cx.generate import generate
    from cx.ingest import ingest_range
    from cx.transform import build
    from cx.warehouse import connect

    root = tmp_path_factory.mktemp("built_warehouse")
    last = BUILT_START + timedelta(days=BUILT_DAYS - 1)
    built = BuiltWarehouse(root / "landing", root / "warehouse" / "cx.duckdb", root / "artifacts", BUILT_START, last)
    generate(built.landing_dir, BUILT_START, BUILT_DAYS, customers=300, seed=7, defects=True, defect_scale=20.0)
    settings = load_settings().replace(
        landing_dir=built.landing_dir, warehouse=built.warehouse, artifacts_dir=built.artifacts_dir, dq_policy=None
    )
    with connect(settings) as con:
        ingest_range(con, settings.landing_dir, BUILT_START, last)
    build(BUILT_START, last, settings)
    return built
