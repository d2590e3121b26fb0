"""The "Customer Experience" page of the Airflow UI.

``queries``: read-only aggregates of the published tables (pure functions of a DuckDB
connection). ``artifacts``: safe access to Data Docs, forecast charts and dbt docs on
disk. ``reader``: one short, lock-aware read of the warehouse. ``app``: the FastAPI
app the Airflow plugin in ``plugins/`` mounts behind Airflow's login.
"""
