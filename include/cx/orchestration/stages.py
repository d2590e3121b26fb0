"""The DAG's own steps that are not a stage of the pipeline package: freshness with the
run's alerting rule, publish, the dbt docs site, and the assets publish updates."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from cx.config import PUBLISHED_TABLES
from cx.orchestration.ordering import PENDING, count_other_runs, run_type_of, run_window_from_context

log = logging.getLogger(__name__)


def published_assets() -> list:
    """One Airflow Asset per published table, so other DAGs can schedule on them."""
    from airflow.sdk import Asset

    return [Asset(name=f"cx.{table}", uri=f"cx://warehouse/main/{table}") for table in PUBLISHED_TABLES]


def freshness_run(context: Any) -> dict:
    """The `check_freshness` task. Backfills record and log stale sources but do not
    alert: a silence years ago is history, not an incident."""
    from cx.pipeline import check_freshness

    ti = context["ti"]
    return check_freshness(
        run_window_from_context(context),
        notify=run_type_of(context) != "backfill",
        dag_id=ti.dag_id,
        run_id=context["run_id"],
    )


def dbt_docs_run(context: Any) -> dict:
    """The `dbt_docs` task: the dbt documentation site (models, tests, lineage and the
    warehouse catalog) for the CX page. Skipped while runs of later days are queued or
    running (the middle of a backfill), where the site would be rewritten at once."""
    if context.get("logical_date") is not None and count_other_runs(context, later=True, states=PENDING):
        log.info("dbt docs left to the newest run")
        return {"skipped": "a later run rebuilds the docs"}
    from cx.transform import docs_generate

    return {"dbt_docs": str(docs_generate())}


def publish_run(as_of: date) -> dict:
    """Publish the run of ``as_of`` (one transaction; see :func:`cx.publish.publish`).

    The current-state tables are built for the warehouse's state, not the run's day:
    re-running or clearing an older day publishes that day's model partitions and
    rebuilds dim_customers and dim_products exactly as the newest run did.
    """
    from cx.publish import publish
    from cx.warehouse import connect

    with connect() as con:
        counts = publish(con, as_of)
    log.info("published rows for %s: %s", as_of, counts)
    return counts
