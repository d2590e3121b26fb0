"""How each suite's frame is read: SQL over the run's partition, and the run's parameters
with the baselines of the trailing days."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import pandas as pd

from cx.config import Settings
from cx.quality.policy import Policy
from cx.quality.project import stage_specs
from cx.quality.suites import RunParams, amount_baseline, rating_baseline, volume_frame, with_amount_decile
from cx.run_days import warehouse_as_of
from cx.warehouse import read_df, table_exists

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
    return Frame(
        f"""select day, sum(rows) as rows from (
                     select _landing_date as day, count(*) as rows from {source_table}
                     where _dq_reason is null and _landing_date between $history_from and $to group by 1
                     union all
                     select distinct _landing_date, 0 from landing.deliveries
                     where source = '{source}' and _landing_date between $from and $to) group by day""",
        (source_table, "landing.deliveries"),
        lambda counts, p: volume_frame(counts, p.run_from, p.run_to, p.thresholds.volume_history_days),
    )


def _staged(table: str, columns: str) -> Frame:
    return Frame(
        f"select {columns}, {LINEAGE} from staging.{table} where _dq_reason is null and {WINDOW}", (f"staging.{table}",)
    )


def _resolved(table: str, validated: str, columns: str, flags: str) -> Frame:
    """Staged order rows (``columns`` of ``s``) with ``flags`` over their fate: ``f`` is the order in
    marts.fct_orders, ``v`` the row in dbt's validated model. Lineage (_landing_date,
    _file, _line) identifies a landing row, so the joins tell whether dbt published this
    very row or quarantined it as an orphan."""
    return Frame(
        f"""
        select {columns}, s._landing_date, s._file, s._line, {flags}
        from staging.{table} s
        left join (select distinct order_id from marts.fct_orders) f on f.order_id = s.order_id
        left join intermediate.{validated} v
          on v._landing_date = s._landing_date and v._file = s._file and v._line = s._line
        where s._dq_reason is null and s.{WINDOW}""",
        (f"staging.{table}", "marts.fct_orders", f"intermediate.{validated}"),
    )


FRAMES: dict[str, Frame] = {
    # Emails are never read: a flag says whether the cleaned value is normalised.
    "stg_customers": _staged(
        "stg_customers",
        r"""customer_id, gender, updated_at,
        email is not distinct from reference.clean_email(email) as _email_normalised""",
    ),
    "stg_products": _staged("stg_products", "product_id, category, price, updated_at"),
    "stg_orders": _resolved(
        "stg_orders",
        "int_orders__validated",
        "s.order_id, s.customer_id, s.ordered_at, s.status, s.channel",
        "f.order_id is not null or coalesce(v._dq_reason = 'orphan_customer', false) "
        "as _order_resolved, coalesce(v._dq_reason, '') <> 'orphan_customer' as _customer_known",
    ),
    "stg_order_items": _resolved(
        "stg_order_items",
        "int_order_items__validated",
        "s.order_id, s.product_id, s.quantity, s.unit_price",
        "f.order_id is not null as _order_in_fct_orders, f.order_id is not null or "
        "coalesce(v._dq_reason = 'orphan_order', false) as _order_resolved",
    ),
    "stg_web_events": _staged("stg_web_events", "event_id, occurred_at, event_type, customer_id, product_id"),
    "stg_reviews": _staged("stg_reviews", "review_id, created_at, customer_id, product_id, rating"),
    "stg_support_tickets": _staged("stg_support_tickets", "ticket_id, created_at, customer_id, status"),
    "stg_orders_volume": _volume("staging.stg_orders", "orders"),
    "stg_web_events_volume": _volume("staging.stg_web_events", "web_events"),
    "stg_reviews_rating_mix": Frame(
        f"select review_id, cast(rating as integer) as rating, {LINEAGE} "
        f"from staging.stg_reviews where _dq_reason is null and rating is not null "
        f"and {WINDOW}",
        ("staging.stg_reviews",),
    ),
    "fct_orders": Frame(
        f"""
        select o.order_id, o.customer_id, o.ordered_at, o.status, o.channel, o.items_count,
               o.order_amount, o.returned_amount, o._landing_date,
               o.customer_id is null or c.customer_id is not null as _customer_in_dim_customers
        from marts.fct_orders o
        left join marts.dim_customers c on c.customer_id = o.customer_id
        where o.{WINDOW}""",
        ("marts.fct_orders", "marts.dim_customers"),
    ),
    "fct_orders_amount": Frame(
        f"select order_id, order_amount from marts.fct_orders where {WINDOW}", ("marts.fct_orders",), with_amount_decile
    ),
    "dim_customers": Frame(
        "select customer_id, orders_count, frequency, revenue_total, recency_days, last_order_at, "
        "cast(as_of_date as varchar) as as_of_date from marts.dim_customers",
        ("marts.dim_customers",),
    ),
    "dim_products": Frame(
        "select product_id, category, price, avg_rating, cast(as_of_date as varchar) as as_of_date "
        "from marts.dim_products",
        ("marts.dim_products",),
    ),
    "fct_daily_sales": Frame(
        "select ds, series, revenue, orders, units, units_sold, units_returned, "
        "series <> 'total' or units >= 0 as _total_net_units_non_negative "
        "from marts.fct_daily_sales where ds between $from and $to",
        ("marts.fct_daily_sales",),
    ),
    "reconciliation": Frame(
        "select * from marts.reconciliation where landing_date between $from and $to", ("marts.reconciliation",)
    ),
    "quarantine": Frame(
        f"select * replace ({RAW_MASKED}) from marts.quarantine where as_of_date between $from and $to",
        ("marts.quarantine",),
    ),
    # Published stage: the contract's tables in main, as users read them.
    "main_dim_customers": Frame(
        "select * replace (cast(as_of_date as varchar) as as_of_date), "
        "segment_id is null or segment_name is not null as _segment_named "
        "from main.dim_customers",
        ("main.dim_customers",),
    ),
    "main_dim_products": Frame(
        "select * replace (cast(as_of_date as varchar) as as_of_date) from main.dim_products", ("main.dim_products",)
    ),
    "main_fct_orders": Frame(
        f"select * from main.fct_orders where order_id in (select order_id from marts.fct_orders where {WINDOW})",
        ("main.fct_orders", "marts.fct_orders"),
    ),
    "main_quarantine": Frame(
        f"select * replace ({RAW_MASKED}) from main.quarantine where as_of_date between $from and $to",
        ("main.quarantine",),
    ),
    "customer_segments": Frame(
        "select s.* replace (cast(s.as_of_date as varchar) as as_of_date), "
        "exists (select 1 from marts.dim_customers c where c.customer_id = s.customer_id) "
        "as _customer_in_dim_customers "
        "from main.customer_segments s where s.as_of_date = $as_of",
        ("main.customer_segments", "marts.dim_customers"),
    ),
    "customer_recommendations": Frame(
        "select r.* replace (cast(r.as_of_date as varchar) as as_of_date), "
        "exists (select 1 from marts.dim_products p where p.product_id = r.product_id) "
        "as _product_in_dim_products "
        "from main.customer_recommendations r where r.as_of_date = $as_of",
        ("main.customer_recommendations", "marts.dim_products"),
    ),
    "review_sentiment": Frame(
        "select * replace (cast(as_of_date as varchar) as as_of_date) "
        "from main.review_sentiment where as_of_date = $as_of",
        ("main.review_sentiment",),
    ),
    "sales_forecast": Frame(
        "select * replace (cast(ds as timestamp) as ds, cast(as_of_date as varchar) as as_of_date) "
        "from main.sales_forecast where as_of_date = $as_of",
        ("main.sales_forecast",),
    ),
    "model_runs": Frame(
        "select * replace (cast(as_of_date as varchar) as as_of_date) from main.model_runs where as_of_date = $as_of",
        ("main.model_runs",),
    ),
    # The inputs stage's rows of the day (this stage's own rows are not written yet).
    "dq_results": Frame(
        "select * replace (cast(as_of_date as varchar) as as_of_date) from main.dq_results "
        "where as_of_date = $as_of and suite in $inputs_suites",
        ("main.dq_results",),
    ),
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
        out = out[:position] + "?" + out[position + len(key) :]
        args.append(values[key])


def _exists(con: Any, qualified: str) -> bool:
    schema, table = qualified.split(".", 1)
    return table_exists(con, table, schema)


def _before_run(con: Any, qualified: str, column: str, where: str, run_from: date, days: int) -> pd.Series | None:
    """The non-null ``column`` of the rows of ``qualified`` (and ``where``) that landed in
    the ``days`` days before the run; None when the relation does not exist."""
    if not _exists(con, qualified):
        return None
    return read_df(
        con,
        f"select {column} from {qualified} where {where} and {column} is not null and _landing_date between ? and ?",
        [run_from - timedelta(days=days), run_from - timedelta(days=1)],
    )[column]


def load_params(
    con: Any, run_from: date, run_to: date, policy: Policy, settings: Settings, stage: str = "inputs"
) -> RunParams:
    """The run's parameters; for the inputs stage also the baselines of the trailing days."""
    t = policy.thresholds
    # The processed days, not the marts: the as-of checks compare what dbt stamped with this.
    state_as_of = warehouse_as_of(con)
    base = RunParams(run_from, run_to, t, recs_top_n=settings.recs_top_n, state_as_of=state_as_of)
    if stage != "inputs":
        return base
    rating_weights, rating_history = None, 0
    ratings = _before_run(con, "staging.stg_reviews", "rating", "_dq_reason is null", run_from, t.rating_history_days)
    if ratings is not None:
        rating_weights, rating_history = rating_baseline(ratings)
    median = edges = weights = None
    amount_history = 0
    amounts = _before_run(con, "marts.fct_orders", "order_amount", "true", run_from, t.amount_history_days)
    if amounts is not None:
        median, edges, weights, amount_history = amount_baseline(amounts)
    return replace(
        base,
        rating_weights=rating_weights if rating_history else None,
        rating_history=rating_history,
        amount_median=median,
        amount_edges=edges,
        amount_weights=weights,
        amount_history=amount_history,
    )


def load_frames(
    con: Any, run_from: date, run_to: date, policy: Policy, settings: Settings, stage: str = "inputs"
) -> RunFrames:
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
