"""One place for configuration: environment variables with sane defaults.

Every path, switch and hyperparameter the pipeline reads comes from here, so a
deployment is configured by its environment (``.env`` in docker compose) and
nothing else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cx.contract import LANDING_SOURCES

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _env_int(name: str, default: int) -> int:
    return int(_env(name, str(default)))


def _env_float(name: str, default: float) -> float:
    return float(_env(name, str(default)))


def _env_path(name: str, default: Path) -> Path:
    return Path(_env(name, str(default))).expanduser().resolve()


# The seven landing sources of the contract, in load order (parents first).
SOURCES: tuple[str, ...] = tuple(LANDING_SOURCES)

# Tables the pipeline promises to users (CONTRACT.md section 2).
PUBLISHED_TABLES: tuple[str, ...] = (
    "dim_customers",
    "dim_products",
    "fct_orders",
    "customer_segments",
    "customer_recommendations",
    "review_sentiment",
    "sales_forecast",
    "model_runs",
    "dq_results",
    "quarantine",
)


@dataclass(frozen=True)
class Settings:
    """Runtime settings resolved from the environment at call time."""

    landing_dir: Path
    warehouse: Path
    artifacts_dir: Path
    dbt_project_dir: Path
    pii_salt: str
    duckdb_threads: int
    duckdb_memory_limit: str
    lock_timeout_s: float
    ml_cadence: str  # daily | weekly | latest
    forecast_horizon_days: int
    forecast_top_categories: int
    holiday_country: str
    recs_top_n: int
    recs_exclude_bought_days: int
    recs_holdout_days: int
    seed: int

    @property
    def data_docs_dir(self) -> Path:
        return self.artifacts_dir / "data_docs"

    @property
    def models_dir(self) -> Path:
        return self.artifacts_dir / "models"

    @property
    def charts_dir(self) -> Path:
        return self.artifacts_dir / "charts"

    @property
    def dbt_docs_dir(self) -> Path:
        return self.dbt_project_dir / "target"


def load_settings() -> Settings:
    """Read the environment now (not at import), so tests can monkeypatch it."""
    data_dir = _env_path("CX_DATA_DIR", PROJECT_ROOT / "include" / "data")
    return Settings(
        landing_dir=_env_path("CX_LANDING_DIR", data_dir / "landing"),
        warehouse=_env_path("CX_WAREHOUSE", data_dir / "warehouse" / "cx.duckdb"),
        artifacts_dir=_env_path("CX_ARTIFACTS_DIR", data_dir / "artifacts"),
        dbt_project_dir=_env_path("CX_DBT_PROJECT_DIR", PROJECT_ROOT / "dbt_project"),
        # Salt for pseudonymising PII; set a secret one in production (.env).
        pii_salt=_env("CX_PII_SALT", "cx-dev-salt-change-me"),
        duckdb_threads=_env_int("CX_DUCKDB_THREADS", os.cpu_count() or 2),
        duckdb_memory_limit=_env("CX_DUCKDB_MEMORY_LIMIT", "8GB"),
        lock_timeout_s=_env_float("CX_LOCK_TIMEOUT_S", 1800.0),
        ml_cadence=_env("CX_ML_CADENCE", "daily").lower(),
        forecast_horizon_days=_env_int("CX_FORECAST_HORIZON_DAYS", 28),
        forecast_top_categories=_env_int("CX_FORECAST_TOP_CATEGORIES", 5),
        holiday_country=_env("CX_HOLIDAY_COUNTRY", "GB"),
        recs_top_n=_env_int("CX_RECS_TOP_N", 10),
        recs_exclude_bought_days=_env_int("CX_RECS_EXCLUDE_BOUGHT_DAYS", 0),
        recs_holdout_days=_env_int("CX_RECS_HOLDOUT_DAYS", 14),
        seed=_env_int("CX_SEED", 42),
    )
