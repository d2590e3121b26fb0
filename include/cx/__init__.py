"""cx-personalization: the importable core of the pipeline.

Everything here runs without Airflow: DAG files in ``dags/`` only wire these
functions into tasks.
"""

__version__ = "0.1.0"
