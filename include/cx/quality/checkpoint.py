"""The validation stage: read the run's partition, validate it with GX, record, gate.

Flow of :func:`run` (the Airflow ``validate`` task):

1. One short ``cx.warehouse.connect()`` block reads every frame as pandas (clean
   staged rows of the run's extraction days, the marts, the model outputs of the
   run's as-of day) plus the history baselines; the connection is released, so GX
   never holds the DuckDB writer lock and only the partition is validated.
2. An ephemeral GX context (in memory, analytics off; nothing is written into the
   source tree) validates each frame with its suite from :mod:`cx.quality.suites`
   through a pandas dataframe batch definition, then renders Data Docs (static
   HTML) into ``settings.data_docs_dir / <as_of_date>``.
3. Every result, passed, failed or skipped, goes to ``main.dq_results`` for the
   as-of day (replaced as a whole, so a re-run is idempotent).
4. Critical failures raise :class:`DataQualityError`; warnings are only logged.
"""

from __future__ import annotations

import html
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from cx.config import Settings, load_settings
from cx.quality.policy import Policy, Severity, load_policy
from cx.quality.suites import SUITES, RunParams, Skipped, Suite, volume_frame, with_five_star
from cx.warehouse import connect, read_df, replace_partition, table_exists

log = logging.getLogger(__name__)

RESULTS_TABLE = "dq_results"
RESULT_COLUMNS = ["suite", "expectation", "table", "success", "unexpected_count", "severity", "details"]


class DataQualityError(RuntimeError):
    """Critical checks failed; ``failures`` holds their results."""

    def __init__(self, message: str, failures: list[CheckResult]):
        super().__init__(message)
        self.failures = failures


@dataclass(frozen=True)
class CheckResult:
    suite: str
    table: str
    expectation: str  # the check's name (its id is "<table>.<name>")
    severity: Severity
    success: bool | None  # None: skipped, see details["skipped"]
    unexpected_count: int | None = None
    element_count: int | None = None
    samples: list[Any] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.success is False

    def describe(self) -> str:
        """One line a data engineer can act on without opening the code."""
        what = self.details.get("expectation_type", "")
        column = self.details.get("kwargs", {}).get("column") or self.details.get("kwargs", {}).get("column_list")
        head = f"{self.table}: {self.expectation} ({what}{f' on {column}' if column else ''})"
        if "error" in self.details:
            return f"{head} could not run: {self.details['error']}"
        if self.unexpected_count is not None:
            of = f" of {self.element_count}" if self.element_count is not None else ""
            sample = "; ".join(_sample_text(s) for s in self.samples) or "-"
            body = f"{self.unexpected_count} bad rows{of}, e.g. {sample}"
        else:
            body = f"observed {_json_safe(self.details.get('observed_value'))}"
        return f"{head}: {body} -- {self.details.get('why', '')}".rstrip(" -")


# --- GX ------------------------------------------------------------------------------


def _gx_context(docs_dir: Path | None):
    """An in-memory GX context: cheap to create, safe for concurrent backfill runs."""
    # Analytics off before GX is imported, and again in the project config.
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    import great_expectations as gx
    from great_expectations.data_context.types.base import DataContextConfig, InMemoryStoreBackendDefaults

    sites = {}
    if docs_dir is not None:
        sites["cx"] = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites=sites,
        analytics_enabled=False,
        progress_bars={"globally": False},
    )
    return gx.get_context(project_config=config, mode="ephemeral")


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return _json_safe(value.item())
    if isinstance(value, float):
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _sample_text(sample: Any) -> str:
    if isinstance(sample, dict):
        return ", ".join(f"{k}={v!r}" for k, v in sample.items())
    return repr(sample)


def _exception_message(info: Any) -> str | None:
    """GX reports a crashed expectation as exception_info (flat or keyed by metric)."""
    if not info:
        return None
    if isinstance(info, dict) and "raised_exception" in info:
        return (info.get("exception_message") or "error") if info.get("raised_exception") else None
    if isinstance(info, dict):
        for value in info.values():
            message = _exception_message(value if isinstance(value, dict) else getattr(value, "to_json_dict", dict)())
            if message:
                return message
    return None


def _frame_for_gx(frame: pd.DataFrame) -> pd.DataFrame:
    """Plain numpy dtypes: GX's pandas metrics mishandle pd.NA in nullable extension types."""
    out = frame.copy()
    for column, dtype in out.dtypes.items():
        if isinstance(dtype, pd.BooleanDtype):
            out[column] = out[column].astype(object).where(out[column].notna(), None)
        elif pd.api.types.is_extension_array_dtype(dtype) and pd.api.types.is_numeric_dtype(dtype):
            out[column] = out[column].astype("float64")
    return out


class Validator:
    """One GX context per run; validates frames against suites, renders Data Docs."""

    def __init__(self, policy: Policy | None = None, docs_dir: Path | None = None):
        self.policy = policy or Policy()
        self.docs_dir = docs_dir
        self.context = _gx_context(docs_dir)
        self._datasource = self.context.data_sources.add_pandas("cx")

    def validate(self, suite: Suite, frame: pd.DataFrame) -> list[CheckResult]:
        import great_expectations as gx

        skipped = [self._skipped(suite, s) for s in suite.skipped]
        if not suite.checks:
            return skipped
        expectations = [
            getattr(gx.expectations, check.expectation)(
                **check.kwargs,
                meta={"check": check.name, "severity": self.policy.severity(suite.check_id(check))},
                notes=f"{self.policy.severity(suite.check_id(check))}: {check.why}",
            )
            for check in suite.checks
        ]
        gx_suite = self.context.suites.add(gx.ExpectationSuite(name=suite.name, expectations=expectations))
        asset = self._datasource.add_dataframe_asset(name=suite.name)
        batch = asset.add_batch_definition_whole_dataframe("run_partition")
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=suite.name, data=batch, suite=gx_suite)
        )
        id_columns = [c for c in suite.id_columns if c in frame.columns]
        outcome = definition.run(
            batch_parameters={"dataframe": _frame_for_gx(frame)},
            result_format={
                "result_format": "SUMMARY",
                "partial_unexpected_count": self.policy.thresholds.sample_size,
                **({"unexpected_index_column_names": id_columns} if id_columns else {}),
            },
        )
        by_name = {check.name: check for check in suite.checks}
        results = []
        for item in outcome.results:
            config = item.expectation_config
            check = by_name[config.meta["check"]]
            result = item.result or {}
            error = _exception_message(item.exception_info)
            samples = result.get("partial_unexpected_index_list") or result.get("partial_unexpected_list") or []
            details = {
                "expectation_type": config.type,
                "kwargs": _json_safe(check.kwargs),
                "why": check.why,
                "observed_value": _json_safe(result.get("observed_value")),
                "unexpected_percent": _json_safe(result.get("unexpected_percent")),
                "samples": _json_safe(samples[: self.policy.thresholds.sample_size]),
                "rows": len(frame),
            }
            if error:
                details["error"] = error
            results.append(CheckResult(
                suite=suite.name,
                table=suite.table,
                expectation=check.name,
                severity=config.meta["severity"],
                success=bool(item.success),
                unexpected_count=result.get("unexpected_count"),
                element_count=result.get("element_count"),
                samples=details["samples"],
                details={k: v for k, v in details.items() if v is not None},
            ))
        order = {check.name: i for i, check in enumerate(suite.checks)}
        return sorted(results, key=lambda r: order[r.expectation]) + skipped

    def _skipped(self, suite: Suite, skip: Skipped) -> CheckResult:
        log.info("%s: %s skipped: %s", suite.table, skip.name, skip.reason)
        return CheckResult(suite.name, suite.table, skip.name, self.policy.severity(suite.check_id(skip)),
                           None, details={"skipped": skip.reason})

    def build_docs(self) -> Path | None:
        if self.docs_dir is None:
            return None
        self.context.build_data_docs()
        return self.docs_dir / "index.html"


# --- reading the run's frames --------------------------------------------------------

# Columns validated per staged table (free text and raw lines stay in the warehouse).
STAGED_COLUMNS: dict[str, tuple[str, ...]] = {
    "stg_orders": ("order_id", "customer_id", "ordered_at", "status", "channel"),
    "stg_customers": ("customer_id", "email", "gender", "updated_at"),
    "stg_products": ("product_id", "category", "price", "updated_at"),
    "stg_web_events": ("event_id", "occurred_at", "event_type", "customer_id", "product_id"),
    "stg_reviews": ("review_id", "created_at", "customer_id", "product_id", "rating"),
    "stg_support_tickets": ("ticket_id", "created_at", "customer_id", "status"),
}
LINEAGE = ("_landing_date", "_file", "_line")


@dataclass
class RunFrames:
    params: RunParams
    frames: dict[str, pd.DataFrame]
    missing: dict[str, str]  # frame name -> why it is absent


def _select(columns: Iterable[str], alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(f'{prefix}"{c}"' for c in columns)


def load_frames(con: Any, run_from: date, run_to: date, policy: Policy) -> RunFrames:
    """Every frame the suites validate, read in one pass over an open connection."""
    t = policy.thresholds
    window = [run_from, run_to]
    frames: dict[str, pd.DataFrame] = {}
    missing: dict[str, str] = {}

    def have(schema: str, table: str, name: str) -> bool:
        if table_exists(con, table, schema):
            return True
        missing[name] = f"{schema}.{table} does not exist (has dbt built it?)"
        return False

    for name, columns in STAGED_COLUMNS.items():
        if have("staging", name, name):
            frames[name] = read_df(con, f"select {_select((*columns, *LINEAGE))} from staging.{name} "
                                        "where _dq_reason is null and _landing_date between ? and ?", window)
    if "stg_reviews" in frames:
        frames["stg_reviews"] = with_five_star(frames["stg_reviews"])

    if have("staging", "stg_orders", "stg_orders_volume"):
        counts = read_df(con, "select _landing_date as day, count(*) as orders from staging.stg_orders "
                              "where _dq_reason is null and _landing_date between ? and ? group by 1",
                         [run_from - timedelta(days=t.volume_history_days), run_to])
        frames["stg_orders_volume"] = volume_frame(counts, run_from, run_to, t.volume_history_days)

    if (have("staging", "stg_order_items", "stg_order_items") and have("marts", "fct_orders", "stg_order_items")
            and have("intermediate", "int_order_items__validated", "stg_order_items")):
        # Lineage (_landing_date, _file, _line) identifies a landing row, so the join
        # tells whether dbt quarantined this very line as an orphan.
        frames["stg_order_items"] = read_df(con, f"""
            select {_select(("order_id", "product_id", "quantity", "unit_price", *LINEAGE), "i")},
                   o.order_id is not null as _order_in_fct_orders,
                   o.order_id is not null or coalesce(v._dq_reason = 'orphan_order', false) as _order_resolved
            from staging.stg_order_items i
            left join (select distinct order_id from marts.fct_orders) o on o.order_id = i.order_id
            left join intermediate.int_order_items__validated v
              on v._landing_date = i._landing_date and v._file = i._file and v._line = i._line
            where i._dq_reason is null and i._landing_date between ? and ?""", window)

    trailing_median, trailing_count = None, 0
    if have("marts", "fct_orders", "fct_orders"):
        frames["fct_orders"] = read_df(con, "select order_id, customer_id, ordered_at, status, channel, items_count, "
                                            "order_amount, _landing_date from marts.fct_orders "
                                            "where _landing_date between ? and ?", window)
        trailing_median, trailing_count = con.execute(
            "select median(order_amount), count(order_amount) from marts.fct_orders "
            "where _landing_date between ? and ?",
            [run_from - timedelta(days=t.median_history_days), run_from - timedelta(days=1)],
        ).fetchone()
    if have("marts", "dim_customers", "dim_customers"):
        frames["dim_customers"] = read_df(con, "select customer_id, orders_count, frequency, revenue_total, "
                                               "recency_days, last_order_at from marts.dim_customers")
    if have("marts", "dim_products", "dim_products"):
        frames["dim_products"] = read_df(con, "select product_id, category, price, avg_rating from marts.dim_products")
    if have("marts", "fct_daily_sales", "fct_daily_sales"):
        frames["fct_daily_sales"] = read_df(con, "select ds, series, revenue, orders, units from marts.fct_daily_sales")
    if have("marts", "reconciliation", "reconciliation"):
        frames["reconciliation"] = read_df(con, "select * from marts.reconciliation "
                                                "where landing_date between ? and ?", window)

    # Model outputs are validated when their stage has written the as-of day.
    outputs = {
        "customer_segments": "select customer_id, segment_id, segment_name from main.customer_segments "
                             "where as_of_date = ?",
        "customer_recommendations": (
            "select r.customer_id, r.rank, r.product_id, r.score, "
            "exists (select 1 from marts.dim_products p where p.product_id = r.product_id) as _product_in_dim_products "
            "from main.customer_recommendations r where r.as_of_date = ?"),
        "review_sentiment": "select review_id, sentiment_score, sentiment_label from main.review_sentiment "
                            "where as_of_date = ?",
        "sales_forecast": "select * exclude (as_of_date) from main.sales_forecast where as_of_date = ?",
    }
    for name, sql in outputs.items():
        if not table_exists(con, name, "main"):
            missing[name] = f"main.{name} does not exist yet (its model stage has not run)"
            continue
        frame = read_df(con, sql, [run_to])
        if frame.empty:
            missing[name] = f"main.{name} has no rows for {run_to}"
        else:
            frames[name] = frame

    params = RunParams(run_from, run_to, t,
                       trailing_order_median=float(trailing_median) if trailing_median is not None else None,
                       trailing_order_count=int(trailing_count or 0))
    return RunFrames(params, frames, missing)


# --- results -------------------------------------------------------------------------


def results_frame(results: list[CheckResult]) -> pd.DataFrame:
    rows = [{
        "suite": r.suite,
        "expectation": r.expectation,
        "table": r.table,
        "success": r.success,
        "unexpected_count": r.unexpected_count,
        "severity": r.severity,
        "details": json.dumps(_json_safe(r.details), sort_keys=True, default=str),
    } for r in results]
    return pd.DataFrame(rows, columns=RESULT_COLUMNS).astype(
        {"success": "boolean", "unexpected_count": "Int64", "details": "object"}
    )


def write_results(con: Any, results: list[CheckResult], as_of_date: date) -> int:
    """Replace the as-of day's rows of main.dq_results (idempotent per day)."""
    return replace_partition(con, RESULTS_TABLE, results_frame(results), as_of_date)


def failure_message(failures: list[CheckResult], run_from: date, run_to: date) -> str:
    window = str(run_to) if run_from == run_to else f"{run_from}..{run_to}"
    lines = [f"{len(failures)} critical data-quality check(s) failed for run {window}:"]
    lines += [f"- {f.describe()}" for f in failures]
    lines.append("All results: main.dq_results and the Data Docs of the day.")
    return "\n".join(lines)


def _write_docs_home(root: Path) -> Path:
    """A landing page listing each day's Data Docs (each day is its own GX site)."""
    days = sorted((p.name for p in root.iterdir() if (p / "index.html").exists()), reverse=True)
    items = "\n".join(f'<li><a href="{html.escape(d)}/index.html">{html.escape(d)}</a></li>' for d in days)
    page = ("<!doctype html><meta charset='utf-8'><title>cx data quality</title>"
            f"<h1>cx data quality: Data Docs by as-of day</h1><ul>\n{items}\n</ul>\n")
    temp = root / ".index.html.tmp"
    temp.write_text(page, encoding="utf-8")
    temp.replace(root / "index.html")  # atomic, so concurrent runs never leave half a page
    return root / "index.html"


def validate_frames(frames: Mapping[str, pd.DataFrame], params: RunParams, validator: Validator) -> list[CheckResult]:
    """Run each frame's suite (frames named as in :data:`cx.quality.suites.SUITES`)."""
    results: list[CheckResult] = []
    for name, builder in SUITES.items():
        if name in frames:
            results += validator.validate(builder(frames[name], params), frames[name])
    return results


def summarize(results: list[CheckResult]) -> dict[str, Any]:
    def count(severity: str, what: str) -> int:
        return sum(1 for r in results if r.severity == severity and (
            (what == "evaluated" and r.success is not None) or (what == "failed" and r.failed)
            or (what == "skipped" and r.success is None)))

    return {
        "evaluated": sum(1 for r in results if r.success is not None),
        "failed": sum(1 for r in results if r.failed),
        "skipped": sum(1 for r in results if r.success is None),
        "by_severity": {s: {w: count(s, w) for w in ("evaluated", "failed", "skipped")} for s in ("critical", "warning")},
    }


def run(run_from: date, run_to: date, settings: Settings | None = None, policy: Policy | None = None) -> dict:
    """Validate the run's partition; raise DataQualityError on critical failures.

    dq_results and Data Docs are written first, so a failed run is fully reported.
    """
    settings = settings or load_settings()
    policy = policy or load_policy()
    started = time.monotonic()
    with connect(settings) as con:
        loaded = load_frames(con, run_from, run_to, policy)
    read_s = time.monotonic() - started

    docs_root = settings.data_docs_dir
    docs_dir = docs_root / run_to.isoformat()
    shutil.rmtree(docs_dir, ignore_errors=True)  # a re-run leaves only its own pages
    docs_dir.mkdir(parents=True, exist_ok=True)
    validator = Validator(policy, docs_dir)
    results = validate_frames(loaded.frames, loaded.params, validator)
    docs_index = validator.build_docs()
    _write_docs_home(docs_root)
    validate_s = time.monotonic() - started - read_s

    with connect(settings) as con:
        write_results(con, results, run_to)

    for r in results:
        if r.failed and r.severity == "warning":
            log.warning("data-quality warning: %s", r.describe())
    for name, why in loaded.missing.items():
        log.info("not validated: %s: %s", name, why)
    summary = {
        **summarize(results),
        "as_of_date": run_to.isoformat(),
        "tables": sorted({r.table for r in results}),
        "not_validated": loaded.missing,
        "data_docs": str(docs_index) if docs_index else None,
        "seconds": {"read": round(read_s, 2), "validate": round(validate_s, 2),
                    "total": round(time.monotonic() - started, 2)},
    }
    log.info("data quality: %s", json.dumps(summary, default=str))
    failures = [r for r in results if r.failed and r.severity == "critical"]
    if failures:
        raise DataQualityError(failure_message(failures, run_from, run_to), failures)
    return summary
