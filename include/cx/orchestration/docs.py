"""The DAG's documentation, shown in the Airflow UI (Docs on the DAG page)."""

DAG_DOC = """
### cx_daily

One run per **extraction day** `D` (the landing zone's date folder):

1. `check_landing_files`: what arrived under `$CX_LANDING_DIR/<source>/D/`.
2. `check_freshness`: each source's latest delivery against its SLA
   (`CX_FRESHNESS_SLA_DAYS`); stale sources are logged, alerted and recorded in
   `main.source_freshness` (the run fails only with `CX_FRESHNESS_FAIL=true`).
3. `wait_for_earlier_days`: in backfills and catch-up, waits until the runs of
   earlier days have finished. The marts describe the newest day processed, so the
   days go through the warehouse (steps 4-10) one at a time, in date order.
4. `load_landing`: DuckDB reads the files into the `landing` schema (unparseable rows
   are kept as rejects, never dropped) and records every day of the run as processed,
   whether anything arrived or not: the marts describe the newest processed day (their
   `as_of_date`), even one on which no source delivered; `source_freshness` says which
   source is late.
5. `dbt`: one `dbt build` (Cosmos watcher mode) over staging → intermediate → marts;
   each model is a task here, but dbt runs once.
6. `validate`: Great Expectations (stage `inputs`) on the day's partition and the
   marts; critical failures stop the model stages. Results in `main.dq_results`,
   Data Docs under the artifacts folder.
7. `should_train_models`: the ML cadence (`CX_ML_CADENCE`, or the run's `ml_cadence`
   param): `daily`, `weekly`, or `latest` (only the newest run, e.g. the last day
   of a backfill). When it says no, the model stages are skipped and publish
   keeps the latest models' outputs.
8. `models`: sentiment → segmentation → recommendations and retention, and forecasting; they write
   to the `model_outputs` schema, not to what users read. A stage with nothing to do
   (no texts, no sales yet) is **skipped** with its reason in its log; the stages after
   it still run.
9. `publish`: the one step that changes `main`, in one transaction: the day's model
   outputs, the dimensions, order facts, quarantine and reconciliation. A run that fails
   or is killed before or during it leaves every published table at the previous day.
10. `validate_published`: Great Expectations (stage `published`) on the contract's
    tables as users read them.

Several runs at once (`max_active_runs`, `--max-active-runs`) are safe: tasks that
write the DuckDB file share the `cx_duckdb` pool and the writer lock, and step 3
keeps the days in order.

**Backfills**: `airflow backfill create --dag-id cx_daily --from-date ... --to-date ...`;
add `--dag-run-conf '{"ml_cadence": "latest"}'` to train the models once, on the
backfill's last day. Do not use `--run-backwards`: days must be built in order.
Re-runs and cleared tasks replace their day's partitions, so they are idempotent.

**Bulk load**: trigger with `range_start` (e.g. `{"range_start": "2024-01-01"}`) to
build all days from `range_start` to the run's date in one run.

**Retries**: critical data-quality failures, invalid settings and failing dbt models
or tests fail their task at once (retrying cannot change them); lock timeouts and
lost workers are retried.

**Alerts**: set `CX_ALERT_CONN_ID` to an Airflow connection (http webhook, smtp, or
Slack webhook when its provider is installed) to be notified of failed tasks and
stale sources. Off by default.
"""
