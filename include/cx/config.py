"""One place for configuration: every ``CX_*`` environment variable, typed and validated.

:class:`Settings` is the only reader of the pipeline's environment. Each field is one
variable (``CX_`` + the field name in upper case) with its type, default and meaning;
an invalid value stops at load with :class:`cx.errors.ConfigurationError` naming the
variable. A deployment is configured by its environment (``.env`` in docker compose)
and nothing else; dbt gets the values it needs from :func:`dbt_process_env`, so its
profile and project carry no defaults of their own.

``python -m cx.config --markdown`` prints the README's configuration table;
``python -m cx.config --dbt-env`` prints what a hand-run dbt needs (``env $(...) dbt ...``).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from cx.contract import LANDING_SOURCES
from cx.errors import ConfigurationError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ENV_PREFIX = "CX_"

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
    "product_demand_forecast",
    "model_runs",
    "dq_results",
    "quarantine",
    "customer_value",
    "retention_targets",
)


def executable(name: str) -> str:
    """A console script of this interpreter's environment (the project venv or the
    image), else the bare name for PATH: dbt, airflow. The one lookup for every caller."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else name


def _data_dir() -> Path:
    return _path(os.environ.get(variable("data_dir"), "").strip() or PROJECT_ROOT / "include" / "data")


def _path(value: str | Path) -> Path:
    return Path(value).expanduser().resolve()


def variable(field: str) -> str:
    """The environment variable of a settings field: ``warehouse`` -> ``CX_WAREHOUSE``."""
    return ENV_PREFIX + field.upper()


def _below(base: str, name: str) -> property:
    """A read-only path ``name`` inside the settings' path field ``base``."""
    return property(lambda settings: getattr(settings, base) / name, doc=f"`${variable(base)}/{name}`")


class Settings(BaseSettings):
    """Runtime settings resolved from the environment when loaded (:func:`load_settings`)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_ignore_empty=True,  # an empty variable means "the default", as in .env.example
        str_strip_whitespace=True,
        frozen=True,
        extra="ignore",
        validate_default=True,
    )

    # Paths. Relative paths resolve against the working directory.
    data_dir: Path = Field(default_factory=_data_dir, description="Root of the default data paths below.")
    landing_dir: Path = Field(
        default_factory=lambda: _data_dir() / "landing",
        description="The landing zone: `<source>/<YYYY-MM-DD>/` folders (docs/contract.md).",
    )
    warehouse: Path = Field(
        default_factory=lambda: _data_dir() / "warehouse" / "cx.duckdb", description="The DuckDB warehouse file."
    )
    artifacts_dir: Path = Field(
        default_factory=lambda: _data_dir() / "artifacts",
        description="Data Docs, charts, model files and run logs.",
    )
    dbt_project_dir: Path = Field(PROJECT_ROOT / "dbt_project", description="The dbt project.")
    uci_dir: Path | None = Field(
        None,
        description="The UCI Online Retail by-day CSVs for `cx.importers.uci` "
        "(default: `shared/data/uci_online_retail/by-day` beside the repository).",
    )
    dq_policy: Path | None = Field(
        None, description="YAML or JSON file overriding the data-quality policy (cx.quality.policy)."
    )
    # Privacy.
    pii_salt: str = Field(
        "cx-dev-salt-change-me", description="Salt for pseudonymising personal data: set a secret one in production."
    )
    # Input reading.
    date_order: Literal["DMY", "MDY"] = Field(
        "DMY", description="Numeric dates such as 03/04/2024: `DMY` (3 April, most of the world) or `MDY` (US)."
    )
    min_plausible_date: date = Field(
        date(1990, 1, 1),
        description="Earlier timestamps are defaults or epoch zeros, not data "
        "(quarantined when required, nulled when optional).",
    )
    # DuckDB and dbt.
    duckdb_threads: int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1, description="DuckDB threads.")
    duckdb_memory_limit: str = Field("8GB", min_length=1, description="DuckDB memory limit.")
    # Row-group merges per checkpoint (DuckDB's default 100); docs/scaling.md.
    duckdb_max_vacuum_tasks: int = Field(10, ge=0, description="Row-group merges DuckDB runs per checkpoint.")
    # WAL size that triggers a checkpoint (DuckDB's default 16MB); docs/scaling.md.
    duckdb_checkpoint_threshold: str = Field("1GB", min_length=1, description="WAL size that triggers a checkpoint.")
    lock_timeout_s: float = Field(1800.0, gt=0, description="Seconds a writer waits for the warehouse lock.")
    dbt_executable: str = Field(
        default_factory=lambda: executable("dbt"),
        description="dbt behind the writer lock (`bin/dbt-locked`) runs this.",
    )
    # Models.
    ml_cadence: Literal["daily", "weekly", "latest"] = Field(
        "daily", description="When the models train: `daily`, `weekly` (on `CX_ML_WEEKDAY`) or `latest` day only."
    )
    ml_weekday: int = Field(6, ge=0, le=6, description="Weekly cadence trains on this weekday (Monday=0 .. Sunday=6).")
    forecast_horizon_days: int = Field(28, ge=1, description="Days the sales forecast looks ahead.")
    forecast_top_categories: int = Field(
        5, ge=1, description="Categories forecast on their own (the rest: one 'other categories' series)."
    )
    forecast_top_products: int = Field(
        500, ge=0, description="Products with a daily demand forecast (top by revenue); 0: none."
    )
    forecast_product_revenue_share: float = Field(
        1.0, gt=0, le=1, description="Stop adding products once they cover this share of the year's revenue."
    )
    holiday_country: str = Field(
        "GB", description="Public-holiday calendar for forecasts (ISO code, e.g. `GB-ENG`); empty: none."
    )
    recs_top_n: int = Field(10, ge=1, description="Recommendations per customer.")
    recs_exclude_bought_days: int = Field(0, ge=0, description="Do not recommend what was bought this many days back.")
    recs_holdout_days: int = Field(14, ge=1, description="Days held out to evaluate recommendations.")
    retention_horizon_days: int = Field(
        90, ge=7, description="Days ahead that churn risk and customer value look (labels need twice this history)."
    )
    retention_targets_top_n: int = Field(
        1000, ge=1, description="Customers on the daily retention target list (most expected value at risk)."
    )
    retention_control_share: float = Field(
        0.1, ge=0, le=0.5, description="Share of the target list held out as the control group (stable per customer)."
    )
    retention_experiment: str = Field(
        "retention-save", min_length=1, description="Experiment name of the target list; it seeds the control split."
    )
    seed: int = Field(42, description="Random seed of every model.")
    identity_threshold: float = Field(
        0.9,
        gt=0,
        lt=1,
        description="Identity resolution links two records at this match probability (docs/identity.md).",
    )
    # Operations.
    alert_conn_id: str = Field("", description="Airflow connection for failure and freshness alerts; empty: off.")
    freshness_sla_days: int = Field(2, ge=0, description="Days a source may stay silent before it is stale.")
    freshness_sla_overrides: Annotated[tuple[tuple[str, int], ...], NoDecode] = Field(
        (), description="Per-source SLA days, e.g. `products=7,reviews=3`."
    )
    freshness_fail: bool = Field(False, description="A stale source fails the run (after alerting).")
    # Scheduling.
    max_active_runs: int = Field(4, ge=1, description="cx_daily runs in flight at once.")
    start_date: date = Field(date(2024, 1, 1), description="cx_daily's first extraction day.")
    catchup: bool = Field(True, description="The scheduler runs every missed day since the start date when unpaused.")
    bulk_min_days: int = Field(3, ge=1, description="`cx.cli run`: a longer range is one bulk run, then daily runs.")

    @field_validator("data_dir", "landing_dir", "warehouse", "artifacts_dir", "dbt_project_dir", "uci_dir", "dq_policy")
    @classmethod
    def _resolved(cls, value: Path | None) -> Path | None:
        return None if value is None else _path(value)

    @field_validator("date_order", "ml_cadence", mode="before")
    @classmethod
    def _case(cls, value: Any, info: Any) -> Any:
        if not isinstance(value, str):
            return value
        return value.strip().upper() if info.field_name == "date_order" else value.strip().lower()

    @field_validator("freshness_sla_overrides", mode="before")
    @classmethod
    def _source_days(cls, value: Any) -> Any:
        """``source=days`` pairs, comma-separated (e.g. ``products=7,reviews=3``)."""
        if not isinstance(value, str):
            return value
        pairs: list[tuple[str, int]] = []
        for item in filter(None, (part.strip() for part in value.split(","))):
            source, sep, days = item.partition("=")
            source = source.strip()
            if not sep or source not in SOURCES or not days.strip().isdigit():
                raise ValueError(f"{item!r} is not <source>=<days> with a source among {', '.join(SOURCES)}")
            pairs.append((source, int(days)))
        return tuple(pairs)

    def freshness_sla(self, source: str) -> int:
        return dict(self.freshness_sla_overrides).get(source, self.freshness_sla_days)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed, validated like the environment's values."""
        return type(self).model_validate({**self.model_dump(), **changes})

    # Paths below the ones above, not variables of their own.
    data_docs_dir = _below("artifacts_dir", "data_docs")
    models_dir = _below("artifacts_dir", "models")
    charts_dir = _below("artifacts_dir", "charts")
    dbt_docs_dir = _below("dbt_project_dir", "target")


def load_settings() -> Settings:
    """Read the environment now (not at import), so tests can monkeypatch it.

    Raises ConfigurationError naming each invalid variable and what it must be.
    """
    try:
        return Settings()
    except ValidationError as error:
        problems = []
        for item in error.errors():
            field = str(item["loc"][0]) if item["loc"] else "?"
            given = os.environ.get(variable(field), "")
            problems.append(f"{variable(field)}={given!r}: {item['msg']}")
        raise ConfigurationError("invalid configuration: " + "; ".join(problems)) from None


def dbt_process_env(settings: Settings) -> dict[str, str]:
    """What every dbt process of the pipeline gets: the warehouse and its DuckDB
    settings (so dbt writes as the pipeline's own connections do), the parsing rules'
    settings, the lock wait of bin/dbt-locked, and no telemetry or version check (no
    internet). The one list for cx.transform (dbt run by the pipeline) and the Cosmos
    tasks. No secret here (Cosmos renders it into task fields): the PII salt reaches
    dbt through the worker's environment, or :func:`dbt_secret_env`."""
    return {
        "CX_WAREHOUSE": str(settings.warehouse),
        "CX_DUCKDB_THREADS": str(settings.duckdb_threads),
        "CX_DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit,
        "CX_DUCKDB_MAX_VACUUM_TASKS": str(settings.duckdb_max_vacuum_tasks),
        "CX_DUCKDB_CHECKPOINT_THRESHOLD": settings.duckdb_checkpoint_threshold,
        "CX_DATE_ORDER": settings.date_order,
        "CX_MIN_PLAUSIBLE_DATE": settings.min_plausible_date.isoformat(),
        "CX_LOCK_TIMEOUT_S": str(settings.lock_timeout_s),
        "CX_DBT_EXECUTABLE": settings.dbt_executable,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "DBT_VERSION_CHECK": "False",
        "DO_NOT_TRACK": "1",
    }


def dbt_secret_env(settings: Settings) -> dict[str, str]:
    """The secret dbt reads (dbt_project.yml var pii_salt), for processes cx starts itself."""
    return {"CX_PII_SALT": settings.pii_salt}


def _default_text(name: str, field: Any) -> str:
    if name in ("data_dir", "landing_dir", "warehouse", "artifacts_dir", "dbt_project_dir"):
        default = {
            "data_dir": "`include/data`",
            "landing_dir": "`$CX_DATA_DIR/landing`",
            "warehouse": "`$CX_DATA_DIR/warehouse/cx.duckdb`",
            "artifacts_dir": "`$CX_DATA_DIR/artifacts`",
            "dbt_project_dir": "`dbt_project`",
        }
        return default[name]
    if name == "duckdb_threads":
        return "CPU count"
    if name == "dbt_executable":
        return "the venv's `dbt`"
    value = field.get_default(call_default_factory=False)
    if value is None or value == "" or value == ():
        return "(empty)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def markdown_table() -> str:
    """The README's configuration table, generated from :class:`Settings`."""
    lines = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        lines.append(f"| `{variable(name)}` | {_default_text(name, field)} | {field.description} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cx.config", description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--markdown", action="store_true", help="the README's configuration table")
    group.add_argument("--dbt-env", action="store_true", help="NAME=value lines of what dbt needs")
    group.add_argument("--check", action="store_true", help="load the settings; exit 1 with the reason if invalid")
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown_table())
        return 0
    try:
        settings = load_settings()
    except ConfigurationError as error:
        print(error, file=sys.stderr)
        return 1
    if args.dbt_env:
        print("\n".join(f"{key}={value}" for key, value in dbt_process_env(settings).items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
