"""`python -m cx.runner.dagtest <args of airflow dags test>`: Airflow's own `dags test`
(tasks run one after another in this process: no scheduler, no API server, no process
per task), with the two things it lacks for a run users look at in the UI afterwards:

- the run's start is when `cx run` started it (``CX_RUN_STARTED_AT``), not its logical
  date (`dags test` creates the run with ``start_date=logical_date``: "durations" of years);
- before and after each task, a marker line naming the file Airflow's log reader opens for
  that try (``[logging] log_filename_template`` under ``base_log_folder``). `cx run` reads
  this process's output and writes each task's lines there (cx.runner.process.TaskLogSplitter),
  so the UI shows each task's own log.

The patches wrap two module-level functions of the pinned Airflow (constraints.txt);
tests/test_run_logs.py checks both against a real run.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from typing import Any

TASK_LOG_START = "[CX TASK LOG] "
TASK_LOG_END = "[CX TASK LOG END]"
STARTED_AT_ENV = "CX_RUN_STARTED_AT"


def marker(text: str) -> None:
    """A line of its own on the process's stdout, after everything logged before it."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(1, (text + "\n").encode())


def started_at() -> datetime | None:
    from airflow.sdk import timezone

    value = os.environ.get(STARTED_AT_ENV)
    return timezone.coerce_datetime(datetime.fromisoformat(value)) if value else timezone.utcnow()


def task_log_path(ti: Any) -> str:
    """The absolute path Airflow's file task handler reads for ``ti``'s current try."""
    from airflow.configuration import conf
    from airflow.utils.log.file_task_handler import FileTaskHandler
    from airflow.utils.session import create_session

    base = conf.get("logging", "base_log_folder")
    with create_session() as session:
        relative = FileTaskHandler(base_log_folder=base)._render_filename(ti, ti.try_number, session=session)
    return os.path.join(base, relative)


def patch_airflow() -> None:
    import airflow.models.dagrun as dagrun_module
    import airflow.sdk.definitions.dag as dag_module

    create_run = dagrun_module.get_or_create_dagrun
    run_task = dag_module._run_task

    def get_or_create_dagrun(**kwargs: Any) -> Any:
        kwargs["start_date"] = started_at()
        return create_run(**kwargs)

    def _run_task(*, ti: Any, task: Any, **kwargs: Any) -> Any:
        marker(TASK_LOG_START + task_log_path(ti))
        try:
            return run_task(ti=ti, task=task, **kwargs)
        finally:
            marker(TASK_LOG_END)

    dagrun_module.get_or_create_dagrun = get_or_create_dagrun
    dag_module._run_task = _run_task


def main(argv: list[str]) -> int:
    patch_airflow()
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", "dags", "test", *argv]
    try:
        airflow_main()
        return 0
    except SystemExit as done:  # `dags test` ends a failed run with SystemExit("DagRun failed")
        if isinstance(done.code, int) or done.code is None:
            return done.code or 0
        print(done.code, file=sys.stderr)
        return 1


def stop_workers() -> None:
    """Stop the worker processes a task started and would leave for the interpreter's exit
    (joblib's reusable executor, used by the model stages)."""
    if "joblib" in sys.modules:
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True, kill_workers=True)


if __name__ == "__main__":
    code = main(sys.argv[1:])
    stop_workers()
    sys.stdout.flush()
    sys.stderr.flush()
    # The run is recorded and its logs written: skip the interpreter's teardown, which takes
    # seconds after every run (and would count in the run's wall time, not in Airflow's);
    # cx.runner.process.run_tied ends whatever else is left in the run's process group.
    os._exit(code)
