"""The validation stage: read the run's partition, validate it with GX, record, gate.

:func:`run` is the Airflow task's entry point, once per stage of a run:

- ``inputs`` (task ``validate``, after dbt, before the model stages): the clean
  staged rows of the run's extraction days, the marts the models read, and
  statistics against the trailing days (volume, rating mix, order amounts);
- ``published`` (task ``validate_published``, after publish): the contract's
  tables as users read them, for the run's as-of day.

Flow: one short ``cx.warehouse.connect()`` block reads every frame as pandas plus
the history baselines, and releases the connection (GX never holds the DuckDB
writer lock). The file-based GX project (``include/gx``, opened read-only) validates
each frame with its suite's validation definition, then renders Data Docs into
``$CX_ARTIFACTS_DIR/data_docs/<as_of_date>/<stage>/``. Every result (passed,
failed, skipped) replaces the stage's rows of ``main.dq_results`` for the as-of
day. Critical failures raise :class:`DataQualityError`; warnings are logged and
returned in the summary.
"""

from __future__ import annotations

import filecmp
import html
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from cx.config import Settings, load_settings
from cx.errors import DataQualityError  # deterministic: the DAG does not retry it
from cx.quality.policy import Policy, Severity, load_policy
from cx.quality.project import PROJECT_DIR, STAGES, SuiteSpec, open_context, stage_specs
from cx.quality.suites import (
    RunParams,
    amount_baseline,
    expectation_parameters,
    prepare,
    rating_baseline,
    volume_frame,
    with_amount_decile,
)
from cx.run_days import warehouse_as_of
from cx.warehouse import connect, read_df, table_exists

log = logging.getLogger(__name__)

RESULTS_TABLE = "dq_results"
RESULT_COLUMNS = ["suite", "expectation", "table", "success", "unexpected_count", "severity", "details"]
# Same types as the published table (cx.publish creates it when validation never ran).
RESULTS_DDL = ('suite varchar, expectation varchar, "table" varchar, success boolean, '
               "unexpected_count bigint, severity varchar, details varchar, as_of_date date")


@dataclass(frozen=True)
class CheckResult:
    suite: str
    table: str
    expectation: str  # the check's name; its policy id is "<suite>.<name>"
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
        column = self.details.get("column")
        head = f"{self.table}: {self.suite}.{self.expectation} ({what}{f' on {column}' if column else ''})"
        if "error" in self.details:
            return f"{head} could not run: {self.details['error']}"
        if self.unexpected_count is not None:
            of = f" of {self.element_count}" if self.element_count is not None else ""
            sample = "; ".join(_sample_text(s) for s in self.samples) or "-"
            body = f"{self.unexpected_count} bad rows{of}, e.g. {sample}"
        else:
            body = f"observed {_short(self.details.get('observed_value'))}, expected {_bounds(self.details)}"
        return f"{head}: {body} -- {self.details.get('why', '')}".rstrip(" -")


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, default=str) if isinstance(value, (dict, list)) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bounds(details: Mapping[str, Any]) -> str:
    kwargs = details.get("kwargs") or {}
    shown = {k: v for k, v in kwargs.items() if k in ("min_value", "max_value", "threshold", "column_set", "value_set")}
    return _short(shown) if shown else "see Data Docs"


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if hasattr(value, "item") and not hasattr(value, "isoformat"):  # numpy scalars
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


# --- GX ------------------------------------------------------------------------------


class Validator:
    """The project's GX context for one run: validates frames, renders Data Docs."""

    def __init__(self, policy: Policy | None = None, docs_dir: Path | None = None,
                 project_dir: Path = PROJECT_DIR, run_name: str | None = None):
        self.policy = policy or Policy()
        self.run_name = run_name  # GX run name in Data Docs (the run's as-of day and stage)
        self.project_dir = project_dir
        self.docs_dir = docs_dir
        # Without a docs folder (tests, ad-hoc use) GX still needs one for its config.
        self._scratch = None
        if docs_dir is None:
            import tempfile

            self._scratch = tempfile.TemporaryDirectory(prefix="cx-gx-docs-")
        self.context = open_context(docs_dir or Path(self._scratch.name), project_dir)
        self._definitions: dict[str, Any] = {}

    def skipped(self, spec: SuiteSpec, reason: str) -> list[CheckResult]:
        log.info("%s: suite %s skipped: %s", spec.table, spec.name, reason)
        return [CheckResult(spec.name, spec.table, c.name, self.policy.severity(spec.check_id(c.name), c.severity),
                            None, details={"skipped": reason, "expectation_type": c.type, "why": c.why})
                for c in spec.checks]

    def validate(self, spec: SuiteSpec, frame: pd.DataFrame, parameters: Mapping[str, Any]) -> list[CheckResult]:
        """Run the suite's validation definition on ``frame`` (the run's partition)."""
        definition = self._definitions.get(spec.name)
        if definition is None:
            definition = self._definitions[spec.name] = self.context.validation_definitions.get(spec.name)
        sample_size = self.policy.thresholds.sample_size
        id_columns = [c for c in spec.id_columns if c in frame.columns]
        run_id = None
        if self.run_name:
            from great_expectations.core.run_identifier import RunIdentifier

            run_id = RunIdentifier(run_name=self.run_name)  # GX stamps its own run time (metadata only)
        try:
            outcome = definition.run(
                run_id=run_id,
                batch_parameters={"dataframe": _frame_for_gx(frame)},
                expectation_parameters=dict(parameters),
                result_format={
                    "result_format": "SUMMARY",
                    "partial_unexpected_count": sample_size,
                    **({"unexpected_index_column_names": id_columns} if id_columns else {}),
                },
            )
        except Exception as error:  # noqa: BLE001 - a suite that cannot run is a failed check, not a crash
            log.exception("suite %s could not run", spec.name)
            return [CheckResult(spec.name, spec.table, c.name, self.policy.severity(spec.check_id(c.name), c.severity),
                                False, details={"error": f"{type(error).__name__}: {error}"[:500],
                                                "expectation_type": c.type, "column": c.column, "why": c.why,
                                                "rows": len(frame)})
                    for c in spec.checks]
        checks = {c.name: c for c in spec.checks}
        results = []
        for item in outcome.results:
            config = item.expectation_config
            check = checks[config.meta["check"]]
            result = item.result or {}
            error = _exception_message(item.exception_info)
            samples = result.get("partial_unexpected_index_list") or result.get("partial_unexpected_list") or []
            kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}  # parameters resolved
            details = {
                "expectation_type": config.type,
                "column": check.column,
                "kwargs": _json_safe(kwargs),
                "why": check.why,
                "observed_value": _json_safe(result.get("observed_value")),
                "unexpected_percent": _json_safe(result.get("unexpected_percent")),
                "samples": _json_safe(samples[:sample_size]),
                "rows": len(frame),
            }
            if error:
                details["error"] = error
            results.append(CheckResult(
                suite=spec.name,
                table=spec.table,
                expectation=check.name,
                severity=self.policy.severity(spec.check_id(check.name), check.severity),
                success=bool(item.success) and not error,
                unexpected_count=result.get("unexpected_count"),
                element_count=result.get("element_count"),
                samples=details["samples"],
                details={k: v for k, v in details.items() if v is not None},
            ))
        order = {c.name: i for i, c in enumerate(spec.checks)}
        return sorted(results, key=lambda r: order[r.expectation])

    def build_docs(self) -> Path | None:
        if self.docs_dir is None:
            return None
        self.context.build_data_docs()
        return self.docs_dir / "index.html"


# --- reading the run's frames --------------------------------------------------------

LINEAGE = '"_landing_date", "_file", "_line"'
# Raw landing lines may hold personal data (a CRM row): only their length is read.
RAW_MASKED = "'<' || coalesce(length(raw), 0) || ' chars>' as raw"
WINDOW = "_landing_date between $from and $to"


@dataclass(frozen=True)
class Frame:
    """How one suite's frame is read: SQL over the run's partition (+ a pandas step)."""

    sql: str  # $from / $to / $as_of are bound as parameters
    tables: tuple[str, ...]  # schema.table the SQL needs (missing: the suite is not validated)
    finish: Callable[[pd.DataFrame, RunParams], pd.DataFrame] | None = None


def _volume(source_table: str, source: str) -> Frame:
    # Clean rows per day with rows, and a 0 for the run's days the source delivered
    # without clean rows; a run day the source did not deliver at all has no row.
    return Frame(f"""select day, sum(rows) as rows from (
                     select _landing_date as day, count(*) as rows from {source_table}
                     where _dq_reason is null and _landing_date between $history_from and $to group by 1
                     union all
                     select distinct _landing_date, 0 from landing.deliveries
                     where source = '{source}' and _landing_date between $from and $to) group by day""",
                 (source_table, "landing.deliveries"),
                 lambda counts, p: volume_frame(counts, p.run_from, p.run_to, p.thresholds.volume_history_days))


def _staged(table: str, columns: str) -> Frame:
    return Frame(f"select {columns}, {LINEAGE} from staging.{table} where _dq_reason is null and {WINDOW}",
                 (f"staging.{table}",))


FRAMES: dict[str, Frame] = {
    # Emails are never read: a flag says whether the cleaned value is normalised.
    "stg_customers": _staged("stg_customers", r"""customer_id, gender, updated_at,
        email is null or regexp_full_match(email, '[^@\sA-Z]+@[^@\sA-Z]+\.[^@\sA-Z]+') as _email_normalised"""),
    "stg_products": _staged("stg_products", "product_id, category, price, updated_at"),
    # Lineage (_landing_date, _file, _line) identifies a landing row, so the joins tell
    # whether dbt published this very row or quarantined it as an orphan.
    "stg_orders": Frame(f"""
        select o.order_id, o.customer_id, o.ordered_at, o.status, o.channel,
               o._landing_date, o._file, o._line,
               f.order_id is not null or coalesce(v._dq_reason = 'orphan_customer', false) as _order_resolved,
               coalesce(v._dq_reason, '') <> 'orphan_customer' as _customer_known
        from staging.stg_orders o
        left join (select distinct order_id from marts.fct_orders) f on f.order_id = o.order_id
        left join intermediate.int_orders__validated v
          on v._landing_date = o._landing_date and v._file = o._file and v._line = o._line
        where o._dq_reason is null and o.{WINDOW}""",
        ("staging.stg_orders", "marts.fct_orders", "intermediate.int_orders__validated")),
    "stg_order_items": Frame(f"""
        select i.order_id, i.product_id, i.quantity, i.unit_price, i._landing_date, i._file, i._line,
               f.order_id is not null as _order_in_fct_orders,
               f.order_id is not null or coalesce(v._dq_reason = 'orphan_order', false) as _order_resolved
        from staging.stg_order_items i
        left join (select distinct order_id from marts.fct_orders) f on f.order_id = i.order_id
        left join intermediate.int_order_items__validated v
          on v._landing_date = i._landing_date and v._file = i._file and v._line = i._line
        where i._dq_reason is null and i.{WINDOW}""",
        ("staging.stg_order_items", "marts.fct_orders", "intermediate.int_order_items__validated")),
    "stg_web_events": _staged("stg_web_events", "event_id, occurred_at, event_type, customer_id, product_id"),
    "stg_reviews": _staged("stg_reviews", "review_id, created_at, customer_id, product_id, rating"),
    "stg_support_tickets": _staged("stg_support_tickets", "ticket_id, created_at, customer_id, status"),
    "stg_orders_volume": _volume("staging.stg_orders", "orders"),
    "stg_web_events_volume": _volume("staging.stg_web_events", "web_events"),
    "stg_reviews_rating_mix": Frame(f"select review_id, cast(rating as integer) as rating, {LINEAGE} "
                                    f"from staging.stg_reviews where _dq_reason is null and rating is not null "
                                    f"and {WINDOW}", ("staging.stg_reviews",)),
    "fct_orders": Frame(f"""
        select o.order_id, o.customer_id, o.ordered_at, o.status, o.channel, o.items_count,
               o.order_amount, o.returned_amount, o._landing_date,
               c.customer_id is not null as _customer_in_dim_customers
        from marts.fct_orders o
        left join marts.dim_customers c on c.customer_id = o.customer_id
        where o.{WINDOW}""", ("marts.fct_orders", "marts.dim_customers")),
    "fct_orders_amount": Frame(f"select order_id, order_amount from marts.fct_orders where {WINDOW}",
                               ("marts.fct_orders",), with_amount_decile),
    "dim_customers": Frame("select customer_id, orders_count, frequency, revenue_total, recency_days, last_order_at, "
                           "cast(as_of_date as varchar) as as_of_date from marts.dim_customers",
                           ("marts.dim_customers",)),
    "dim_products": Frame("select product_id, category, price, avg_rating, cast(as_of_date as varchar) as as_of_date "
                          "from marts.dim_products", ("marts.dim_products",)),
    "fct_daily_sales": Frame("select ds, series, revenue, orders, units, units_sold, units_returned, "
                             "series <> 'total' or units >= 0 as _total_net_units_non_negative "
                             "from marts.fct_daily_sales where ds between $from and $to", ("marts.fct_daily_sales",)),
    "reconciliation": Frame("select * from marts.reconciliation where landing_date between $from and $to",
                            ("marts.reconciliation",)),
    "quarantine": Frame(f"select * replace ({RAW_MASKED}) from marts.quarantine "
                        "where as_of_date between $from and $to",
                        ("marts.quarantine",)),
    # Published stage: the contract's tables in main, as users read them.
    "main_dim_customers": Frame("select * replace (cast(as_of_date as varchar) as as_of_date), "
                                "segment_id is null or segment_name is not null as _segment_named "
                                "from main.dim_customers", ("main.dim_customers",)),
    "main_dim_products": Frame("select * replace (cast(as_of_date as varchar) as as_of_date) from main.dim_products",
                               ("main.dim_products",)),
    "main_fct_orders": Frame(f"select * from main.fct_orders where order_id in "
                             f"(select order_id from marts.fct_orders where {WINDOW})",
                             ("main.fct_orders", "marts.fct_orders")),
    "main_quarantine": Frame(f"select * replace ({RAW_MASKED}) from main.quarantine "
                             "where as_of_date between $from and $to",
                             ("main.quarantine",)),
    "customer_segments": Frame("select s.* replace (cast(s.as_of_date as varchar) as as_of_date), "
                               "exists (select 1 from marts.dim_customers c where c.customer_id = s.customer_id) "
                               "as _customer_in_dim_customers "
                               "from main.customer_segments s where s.as_of_date = $as_of",
                               ("main.customer_segments", "marts.dim_customers")),
    "customer_recommendations": Frame("select r.* replace (cast(r.as_of_date as varchar) as as_of_date), "
                                      "exists (select 1 from marts.dim_products p where p.product_id = r.product_id) "
                                      "as _product_in_dim_products "
                                      "from main.customer_recommendations r where r.as_of_date = $as_of",
                                      ("main.customer_recommendations", "marts.dim_products")),
    "review_sentiment": Frame("select * replace (cast(as_of_date as varchar) as as_of_date) "
                              "from main.review_sentiment where as_of_date = $as_of", ("main.review_sentiment",)),
    "sales_forecast": Frame("select * replace (cast(ds as timestamp) as ds, cast(as_of_date as varchar) as as_of_date) "
                            "from main.sales_forecast where as_of_date = $as_of", ("main.sales_forecast",)),
    "model_runs": Frame("select * replace (cast(as_of_date as varchar) as as_of_date) "
                        "from main.model_runs where as_of_date = $as_of", ("main.model_runs",)),
    # The inputs stage's rows of the day (this stage's own rows are not written yet).
    "dq_results": Frame("select * replace (cast(as_of_date as varchar) as as_of_date) from main.dq_results "
                        "where as_of_date = $as_of and suite in $inputs_suites", ("main.dq_results",)),
}


@dataclass
class RunFrames:
    params: RunParams
    frames: dict[str, pd.DataFrame]
    missing: dict[str, str]  # suite -> why its frame is absent


def _bind(sql: str, p: RunParams, history_days: int) -> tuple[str, list[Any]]:
    """Replace $name placeholders by positional parameters (in order of appearance)."""
    values = {
        "$history_from": p.run_from - timedelta(days=history_days),
        "$from": p.run_from,
        "$to": p.run_to,
        "$as_of": p.run_to,
    }
    args: list[Any] = []
    out = sql
    if "$inputs_suites" in out:
        names = ", ".join(f"'{n}'" for n in stage_specs("inputs"))  # names come from the project, not input
        out = out.replace("$inputs_suites", f"({names})")
    while True:
        hits = [(out.find(k), k) for k in values if out.find(k) >= 0]
        if not hits:
            return out, args
        position, key = min(hits)
        out = out[:position] + "?" + out[position + len(key):]
        args.append(values[key])


def _exists(con: Any, qualified: str) -> bool:
    schema, table = qualified.split(".", 1)
    return table_exists(con, table, schema)


def load_params(con: Any, run_from: date, run_to: date, policy: Policy, settings: Settings,
                stage: str = "inputs") -> RunParams:
    """The run's parameters; for the inputs stage also the baselines of the trailing days."""
    t = policy.thresholds
    # The processed days, not the marts: the as-of checks compare what dbt stamped with this.
    state_as_of = warehouse_as_of(con)
    base = RunParams(run_from, run_to, t, recs_top_n=settings.recs_top_n, state_as_of=state_as_of)
    if stage != "inputs":
        return base
    rating_weights, rating_history = None, 0
    if _exists(con, "staging.stg_reviews"):
        ratings = read_df(con, "select rating from staging.stg_reviews where _dq_reason is null and rating is not null "
                               "and _landing_date between ? and ?",
                          [run_from - timedelta(days=t.rating_history_days), run_from - timedelta(days=1)])
        rating_weights, rating_history = rating_baseline(ratings["rating"])
    median = edges = weights = None
    amount_history = 0
    if _exists(con, "marts.fct_orders"):
        amounts = read_df(con, "select order_amount from marts.fct_orders where order_amount is not null "
                               "and _landing_date between ? and ?",
                          [run_from - timedelta(days=t.amount_history_days), run_from - timedelta(days=1)])
        median, edges, weights, amount_history = amount_baseline(amounts["order_amount"])
    return replace(base, rating_weights=rating_weights if rating_history else None, rating_history=rating_history,
                   amount_median=median, amount_edges=edges, amount_weights=weights, amount_history=amount_history)


def load_frames(con: Any, run_from: date, run_to: date, policy: Policy, settings: Settings,
                stage: str = "inputs") -> RunFrames:
    """Every frame of the stage's suites, read in one pass over an open connection."""
    params = load_params(con, run_from, run_to, policy, settings, stage)
    frames: dict[str, pd.DataFrame] = {}
    missing: dict[str, str] = {}
    for name in stage_specs(stage):
        spec = FRAMES.get(name)
        if spec is None:
            raise KeyError(f"suite {name} has no frame in cx.quality.checkpoint.FRAMES")
        absent = [t for t in spec.tables if not _exists(con, t)]
        if absent:
            missing[name] = f"{', '.join(absent)} does not exist (has dbt / the stage built it?)"
            continue
        sql, args = _bind(spec.sql, params, policy.thresholds.volume_history_days)
        frame = read_df(con, sql, args)
        frames[name] = spec.finish(frame, params) if spec.finish else frame
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


# Suites over the current-state marts (one row per customer or product, as of the newest
# day ingested), not over the run's partition.
STATE_SUITES = ("dim_customers", "dim_products", "main_dim_customers", "main_dim_products")


def recorded_state_suites(con: Any, params: RunParams, suites: Iterable[str]) -> list[str]:
    """State suites whose results for the run's day are already recorded, when the run
    is an older day re-run after newer days were ingested (a cleared backfill day).

    Their results were recorded when that day was the newest: the state they checked
    is gone, so the re-run keeps them, and a cleared day leaves dq_results as it was.
    """
    if params.state_day <= params.run_to or not table_exists(con, RESULTS_TABLE, "main"):
        return []
    candidates = [s for s in suites if s in STATE_SUITES]
    if not candidates:
        return []
    recorded = con.execute(
        f"select distinct suite from main.{RESULTS_TABLE} where as_of_date = ? and suite in "
        f"({', '.join('?' for _ in candidates)})", [params.run_to, *candidates]).fetchall()
    return sorted(r[0] for r in recorded)


def write_results(con: Any, results: list[CheckResult], as_of_date: date, suites: Iterable[str]) -> int:
    """Replace the rows of ``suites`` for ``as_of_date`` in main.dq_results (idempotent)."""
    frame = results_frame(results)
    frame["as_of_date"] = as_of_date
    names = sorted(set(suites))
    con.execute(f"create table if not exists main.{RESULTS_TABLE} ({RESULTS_DDL})")
    con.register("_cx_dq", frame)
    try:
        con.execute("begin transaction")
        if names:
            con.execute(f"delete from main.{RESULTS_TABLE} where as_of_date = ? and suite in "
                        f"({', '.join('?' for _ in names)})", [as_of_date, *names])
        con.execute(f"insert into main.{RESULTS_TABLE} by name select * from _cx_dq")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        con.unregister("_cx_dq")
    return len(frame)


def failure_message(failures: list[CheckResult], run_from: date, run_to: date, stage: str = "inputs",
                    docs: Path | None = None) -> str:
    window = str(run_to) if run_from == run_to else f"{run_from}..{run_to}"
    consequence = "the model stages will not run" if stage == "inputs" else "the published tables are not trustworthy"
    lines = [f"{len(failures)} critical data-quality check(s) failed for run {window} ({stage}); {consequence}:"]
    lines += [f"- {f.describe()}" for f in failures]
    lines.append(f"All results: main.dq_results where as_of_date = '{run_to}'"
                 + (f"; Data Docs: {docs}" if docs else ""))
    return "\n".join(lines)


def summarize(results: list[CheckResult]) -> dict[str, Any]:
    def count(severity: str, what: str) -> int:
        return sum(1 for r in results if r.severity == severity and (
            (what == "evaluated" and r.success is not None) or (what == "failed" and r.failed)
            or (what == "skipped" and r.success is None)))

    return {
        "evaluated": sum(1 for r in results if r.success is not None),
        "failed": sum(1 for r in results if r.failed),
        "skipped": sum(1 for r in results if r.success is None),
        "by_severity": {s: {w: count(s, w) for w in ("evaluated", "failed", "skipped")}
                        for s in ("critical", "warning")},
    }


def validate_frames(frames: Mapping[str, pd.DataFrame], params: RunParams, validator: Validator,
                    stage: str | None = None) -> list[CheckResult]:
    """Run each frame's suite (frames keyed by suite name), in the project's order."""
    specs = stage_specs(stage) if stage else {n: s for st in STAGES for n, s in stage_specs(st).items()}
    parameters = expectation_parameters(params)
    results: list[CheckResult] = []
    for name, spec in specs.items():
        if name not in frames:
            continue
        prepared = prepare(name, frames[name], params)
        results += (validator.skipped(spec, prepared.skip) if prepared.skip
                    else validator.validate(spec, prepared.frame, {**parameters, **prepared.parameters}))
    return results


# --- Data Docs -----------------------------------------------------------------------


def docs_dir(settings: Settings, as_of: date, stage: str) -> Path:
    """Where the Data Docs of one run's stage live (``<day>/index.html`` links the stages)."""
    return settings.data_docs_dir / as_of.isoformat() / stage


def share_static_files(root: Path, site: Path) -> int:
    """Hard-link the GX site's ``static/`` files (4 MB of fonts and images, the same
    for every site) to one copy under ``root/.static``, so a year of daily sites does
    not store them 730 times. Returns the bytes saved; any server sees plain files."""
    saved = 0
    shared_root = root / ".static"
    for path in sorted((site / "static").rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        shared = shared_root / path.relative_to(site / "static")
        try:
            if not shared.exists():
                shared.parent.mkdir(parents=True, exist_ok=True)
                os.link(path, shared)
                continue
            if shared.stat().st_ino == path.stat().st_ino or not filecmp.cmp(path, shared, shallow=False):
                continue
            temp = path.with_name(f".{path.name}.link")
            temp.unlink(missing_ok=True)
            os.link(shared, temp)
            temp.replace(path)
            saved += shared.stat().st_size
        except OSError as error:  # e.g. a file system without hard links: keep the copies
            log.info("Data Docs static files not shared: %s", error)
            return saved
    return saved


def _stage_cell(day: Path, stage: str, prefix: str) -> str:
    summary_path = day / stage / "summary.json"
    if not summary_path.exists():
        return "<td>not run</td>"
    s = json.loads(summary_path.read_text(encoding="utf-8"))
    crit, warn = s["by_severity"]["critical"]["failed"], s["by_severity"]["warning"]["failed"]
    status = "FAILED" if crit else ("warnings" if warn else "passed")
    return (f'<td class="{status.lower()}"><a href="{html.escape(prefix)}{stage}/index.html">{status}</a> '
            f"({s['evaluated']} checks: {crit} critical and {warn} warning failures, {s['skipped']} skipped)</td>")


def _page(title: str, body: str) -> str:
    return ("<!doctype html><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 10px;text-align:left}"
            ".failed{background:#fdd}.warnings{background:#ffd}.passed{background:#dfd}</style>"
            f"<h1>{html.escape(title)}</h1>{body}\n")


def _write_atomic(path: Path, text: str) -> Path:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    temp.replace(path)  # atomic, so concurrent runs never leave half a page
    return path


def write_day_index(day: Path) -> Path:
    """``data_docs/<day>/index.html``: the day's stages, each a GX Data Docs site."""
    header = "".join(f"<th>{s}</th>" for s in STAGES)
    cells = "".join(_stage_cell(day, s, "") for s in STAGES)
    findings = []
    for stage in STAGES:
        path = day / stage / "summary.json"
        s = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        for label, key in (("critical", "critical_failures"), ("warning", "warnings")):
            findings += [f'<li class="{"failed" if label == "critical" else "warnings"}">{stage}, {label}: '
                         f"{html.escape(line)}</li>" for line in s.get(key, [])]
        findings += [f"<li>{stage}, not validated: {html.escape(k)}: {html.escape(v)}</li>"
                     for k, v in s.get("not_validated", {}).items()]
    body = (f"<table><tr>{header}</tr><tr>{cells}</tr></table>"
            + (f"<h2>Findings</h2><ul>{''.join(findings)}</ul>" if findings else "<p>No findings.</p>")
            + "<p>inputs: staged rows and marts, checked before the model stages; "
            "published: the contract's tables after publish. All results: <code>main.dq_results</code>.</p>"
            '<p><a href="../index.html">all days</a></p>')
    return _write_atomic(day / "index.html", _page(f"cx data quality, {day.name}", body))


def write_docs_home(root: Path) -> Path:
    """``data_docs/index.html``: every day's stages with their status, newest first."""
    rows = []
    days = (p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for day in sorted(days, key=lambda p: p.name, reverse=True):
        cells = "".join(_stage_cell(day, s, f"{day.name}/") for s in STAGES)
        name = html.escape(day.name)
        rows.append(f'<tr><th><a href="{name}/index.html">{name}</a></th>{cells}</tr>')
    header = "".join(f"<th>{s}</th>" for s in STAGES)
    body = f"<table><tr><th>as-of day</th>{header}</tr>\n" + "\n".join(rows) + "\n</table>"
    return _write_atomic(root / "index.html", _page("cx data quality: Data Docs by as-of day", body))


def gate(results: list[CheckResult], run_from: date, run_to: date, stage: str, docs: Path | None = None) -> None:
    """Raise DataQualityError when a critical check failed; warnings only log."""
    for r in results:
        if r.failed and r.severity == "warning":
            log.warning("data-quality warning: %s", r.describe())
    failures = [r for r in results if r.failed and r.severity == "critical"]
    if failures:
        raise DataQualityError(failure_message(failures, run_from, run_to, stage, docs), failures)


# --- the task ------------------------------------------------------------------------


def run(run_from: date, run_to: date, settings: Settings | None = None, policy: Policy | None = None,
        stage: str = "inputs") -> dict:
    """Validate the run's partition for ``stage``; raise DataQualityError on critical failures.

    dq_results and Data Docs are written first, so a failed run is fully reported.
    """
    settings = settings or load_settings()
    policy = policy or load_policy()
    specs = stage_specs(stage)
    started = time.monotonic()
    with connect(settings) as con:
        loaded = load_frames(con, run_from, run_to, policy, settings, stage)
    read_s = time.monotonic() - started

    target = docs_dir(settings, run_to, stage)
    shutil.rmtree(target, ignore_errors=True)  # a re-run leaves only its own pages
    target.mkdir(parents=True, exist_ok=True)
    mark = time.monotonic()
    validator = Validator(policy, target, run_name=f"{run_to.isoformat()}_{stage}")  # imports GX on first use
    context_s = time.monotonic() - mark
    results = validate_frames(loaded.frames, loaded.params, validator, stage)
    validate_s = time.monotonic() - mark - context_s
    docs_index = validator.build_docs()
    share_static_files(settings.data_docs_dir, target)
    docs_s = time.monotonic() - mark - context_s - validate_s

    with connect(settings) as con:
        kept = recorded_state_suites(con, loaded.params, specs)
        if kept:
            log.info("re-run of %s after newer days: the recorded results of %s stay (they describe the "
                     "warehouse as of that day; the checks above gated this run)", run_to, ", ".join(kept))
        write_results(con, [r for r in results if r.suite not in kept], run_to, [s for s in specs if s not in kept])

    warnings = [r.describe() for r in results if r.failed and r.severity == "warning"]
    critical = [r.describe() for r in results if r.failed and r.severity == "critical"]
    for name, why in loaded.missing.items():
        log.warning("not validated: %s: %s", name, why)
    summary = {
        **summarize(results),
        "stage": stage,
        "as_of_date": run_to.isoformat(),
        "suites": len(specs) - len(loaded.missing),
        "critical_failures": critical,
        "warnings": warnings,
        "not_validated": loaded.missing,
        "data_docs": str(docs_index) if docs_index else None,
        "seconds": {"read": round(read_s, 2), "gx_context": round(context_s, 2), "validate": round(validate_s, 2),
                    "docs": round(docs_s, 2), "total": round(time.monotonic() - started, 2)},
    }
    (target / "summary.json").write_text(json.dumps(summary, indent=1, default=str), encoding="utf-8")
    write_day_index(target.parent)
    write_docs_home(settings.data_docs_dir)
    log.info("data quality (%s): %s", stage, json.dumps(summary, default=str))
    gate(results, run_from, run_to, stage, docs_index)
    return summary
