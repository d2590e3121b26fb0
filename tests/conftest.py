"""Shared test set-up: tests never touch the demo warehouse or the network.

Tiers (markers declared in pyproject.toml): ``e2e`` runs a pipeline through dbt or
Airflow, ``airflow`` imports or starts Airflow, ``dbt`` starts a dbt process, ``slow``
takes over a few seconds. ``make test-fast`` runs everything else (pure units on frames
and small DuckDB files); ``make test`` runs all of them. Each module declares its tier
itself: a module-level ``pytestmark``, or a mark on a slow test (over ~2 s on a busy
2-core machine) of an otherwise fast module.

Shared fixtures: ``built_warehouse`` is one generated landing zone, ingested and built
by dbt once per session, for the tests that only read a built warehouse.
"""

from __future__ import annotations

import ast
import os
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("AIRFLOW__COSMOS__ENABLE_TELEMETRY", "False")


def _module_tiers(path: Path) -> set[str]:
    """The marks of a test module's own top-level ``pytestmark`` (``pytest.mark.x`` or a
    list of them), read from its source without importing it."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return set()  # let the import report it
    tiers: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "pytestmark" for t in node.targets):
            values = node.value.elts if isinstance(node.value, ast.List | ast.Tuple) else [node.value]
            tiers.update(
                v.attr
                for v in values
                if isinstance(v, ast.Attribute) and isinstance(v.value, ast.Attribute) and v.value.attr == "mark"
            )
    return tiers


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Skip importing a module the mark expression deselects whole (``make test-fast``):
    importing Airflow alone takes seconds."""
    if not (collection_path.name.startswith("test_") and collection_path.suffix == ".py"):
        return None
    expression = config.getoption("markexpr", "") or ""
    if expression and any(f"not {tier}" in expression for tier in _module_tiers(collection_path)):
        return True
    return None


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
    # At 20x the repairable kinds compete for the same rows (a row carries one defect),
    # so the last ones drawn (stale versions) are rare: seed 11 holds every kind (seed 7
    # lost its stale versions when the generator planted identities, issue 27).
    generate(built.landing_dir, BUILT_START, BUILT_DAYS, customers=300, seed=11, defects=True, defect_scale=20.0)
    settings = load_settings().replace(
        landing_dir=built.landing_dir, warehouse=built.warehouse, artifacts_dir=built.artifacts_dir, dq_policy=None
    )
    with connect(settings) as con:
        ingest_range(con, settings.landing_dir, BUILT_START, last)
    build(BUILT_START, last, settings)
    return built


@pytest.fixture(scope="session")
def migrated_airflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty Airflow metadata database (SQLite), migrated once for the session: a test
    that starts Airflow in a temporary AIRFLOW_HOME copies it as ``airflow.db`` there
    (migrating takes seconds)."""
    import subprocess
    import sys

    home = tmp_path_factory.mktemp("airflow_db")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "CX_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }
    )
    airflow = str(Path(sys.executable).with_name("airflow"))
    migrate = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=600)
    assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
    return home / "airflow.db"
