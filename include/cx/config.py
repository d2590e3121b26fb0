"""One place for configuration: environment variables with sane defaults.

Every path, switch and hyperparameter the pipeline reads comes from here, so a
deployment is configured by its environment (``.env`` in docker compose) and
nothing else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from cx.contract import LANDING_SOURCES
from cx.errors import ConfigurationError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _date_order(value: str) -> str:
    order = value.strip().upper()
    if order not in ("DMY", "MDY"):
        raise ConfigurationError(f"CX_DATE_ORDER must be DMY or MDY, not {value!r}")
    return order


def _env_int(name: str, default: int) -> int:
    return _parsed(name, str(default), int, "an integer")


def _env_float(name: str, default: float) -> float:
    return _parsed(name, str(default), float, "a number")


def _env_date(name: str, default: str) -> date:
    return _parsed(name, default, date.fromisoformat, "a YYYY-MM-DD date")


def _parsed(name: str, default: str, parse, what: str):
    value = _env(name, default)
    try:
        return parse(value)
    except ValueError:
        raise ConfigurationError(f"{name}={value!r} is not {what}") from None


def _env_path(name: str, default: Path) -> Path:
    return Path(_env(name, str(default))).expanduser().resolve()


def _env_bool(name: str, default: bool) -> bool:
    value = _env(name, "true" if default else "false").lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name}={value!r}: expected true or false")


def _env_source_days(name: str) -> tuple[tuple[str, int], ...]:
    """``source=days`` pairs, comma-separated (e.g. ``products=7,reviews=3``)."""
    pairs: list[tuple[str, int]] = []
    for item in filter(None, (part.strip() for part in _env(name, "").split(","))):
        source, sep, days = item.partition("=")
        source = source.strip()
        if not sep or source not in SOURCES or not days.strip().isdigit():
            raise ConfigurationError(
                f"{name}: {item!r} is not <source>=<days> with a source among {', '.join(SOURCES)}"
            )
        pairs.append((source, int(days)))
    return tuple(pairs)


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
    duckdb_max_vacuum_tasks: int
    duckdb_checkpoint_threshold: str
    lock_timeout_s: float
    ml_cadence: str  # daily | weekly | latest
    forecast_horizon_days: int
    forecast_top_categories: int
    holiday_country: str
    recs_top_n: int
    recs_exclude_bought_days: int
    recs_holdout_days: int
    seed: int
    # Operations (issue 8). Defaults keep alerts off and freshness informative only.
    alert_conn_id: str = ""  # Airflow connection for failure/freshness alerts; "" = off
    freshness_sla_days: int = 2  # days a source may stay silent before it is stale
    freshness_sla_overrides: tuple[tuple[str, int], ...] = ()  # per-source SLA days
    freshness_fail: bool = False  # a stale source fails the run (after alerting) when true
    ml_weekday: int = 6  # weekly cadence trains on this weekday (Monday=0 .. Sunday=6)
    max_active_runs: int = 4  # cx_daily runs in flight at once (backfills set their own)
    start_date: date = date(2024, 1, 1)  # cx_daily's first extraction day
    catchup: bool = True  # the scheduler runs every missed day since start_date when unpaused
    # Numeric dates such as 03/04/2024: DMY (3 April, most of the world) or MDY (US).
    date_order: str = "DMY"

    def freshness_sla(self, source: str) -> int:
        return dict(self.freshness_sla_overrides).get(source, self.freshness_sla_days)

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
        # Row-group merges DuckDB runs per checkpoint (its default: 100). Daily
        # appends leave many part-filled row groups; at 100 merges every commit that
        # checkpoints paid ~13 s on a 1M-customer warehouse, at 10 about 1.5 s, and the
        # merging still gets done over the following checkpoints.
        duckdb_max_vacuum_tasks=_env_int("CX_DUCKDB_MAX_VACUUM_TASKS", 10),
        # WAL size that triggers a checkpoint (DuckDB's default: 16MB). At 16MB a dbt
        # build checkpoints after most models, each time merging row groups of a large
        # file; at 1GB it checkpoints about once, on close: the 1M-customer day build
        # took 5.7 s less on average and varied 0.4 s instead of 12 s.
        duckdb_checkpoint_threshold=_env("CX_DUCKDB_CHECKPOINT_THRESHOLD", "1GB"),
        lock_timeout_s=_env_float("CX_LOCK_TIMEOUT_S", 1800.0),
        ml_cadence=_env("CX_ML_CADENCE", "daily").lower(),
        date_order=_date_order(_env("CX_DATE_ORDER", "DMY")),
        forecast_horizon_days=_env_int("CX_FORECAST_HORIZON_DAYS", 28),
        forecast_top_categories=_env_int("CX_FORECAST_TOP_CATEGORIES", 5),
        holiday_country=_env("CX_HOLIDAY_COUNTRY", "GB"),
        recs_top_n=_env_int("CX_RECS_TOP_N", 10),
        recs_exclude_bought_days=_env_int("CX_RECS_EXCLUDE_BOUGHT_DAYS", 0),
        recs_holdout_days=_env_int("CX_RECS_HOLDOUT_DAYS", 14),
        seed=_env_int("CX_SEED", 42),
        alert_conn_id=_env("CX_ALERT_CONN_ID", ""),
        freshness_sla_days=_env_int("CX_FRESHNESS_SLA_DAYS", 2),
        freshness_sla_overrides=_env_source_days("CX_FRESHNESS_SLA_OVERRIDES"),
        freshness_fail=_env_bool("CX_FRESHNESS_FAIL", False),
        ml_weekday=_env_int("CX_ML_WEEKDAY", 6),
        max_active_runs=_env_int("CX_MAX_ACTIVE_RUNS", 4),
        start_date=_env_date("CX_START_DATE", "2024-01-01"),
        catchup=_env_bool("CX_CATCHUP", True),
    )


def dbt_process_env(settings: Settings) -> dict[str, str]:
    """What every dbt process of the pipeline gets: the warehouse and its DuckDB
    settings (so dbt writes as the pipeline's own connections do), and no telemetry
    or version check (no internet). The one list for cx.transform (dbt run by the
    pipeline) and cx.airflow_support (dbt run by Cosmos tasks)."""
    return {
        "CX_WAREHOUSE": str(settings.warehouse),
        "CX_DUCKDB_THREADS": str(settings.duckdb_threads),
        "CX_DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit,
        "CX_DUCKDB_MAX_VACUUM_TASKS": str(settings.duckdb_max_vacuum_tasks),
        "CX_DUCKDB_CHECKPOINT_THRESHOLD": settings.duckdb_checkpoint_threshold,
        "CX_DATE_ORDER": settings.date_order,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "DBT_VERSION_CHECK": "False",
        "DO_NOT_TRACK": "1",
    }
