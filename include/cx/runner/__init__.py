"""`cx run`: the pipeline over a range through `airflow dags test`, judged from
Airflow's own record of each run (task-instance states and returned summaries).

dagtest: `airflow dags test` with the run's real start and a marker per task's log file.
process: one CLI run per warehouse at a time, children that die with their parent, each
         task's output written to the file the Airflow UI reads.
verdict: pure evaluation of a run's task instances and its printed summary.
record:  reads the run, its task instances and XComs from Airflow's metadata DB.
"""
