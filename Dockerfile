# cx-personalization image: the official Airflow image + the project's pinned stack.
#
# One image for every Airflow role (api-server, scheduler, dag-processor, triggerer,
# celery worker, init); docker-compose.yml picks the role with `command:`.
# Build:  docker compose build      (or: docker build -t cx-personalization .)
#
# The Airflow version here must equal the apache-airflow pin in requirements.txt and
# constraints.txt (tests/test_compose.py checks it).
FROM apache/airflow:3.3.2-python3.11

# Telemetry off for every tool in the stack, at build time (dbt parse) and run time.
ENV DO_NOT_TRACK=1 \
    DBT_SEND_ANONYMOUS_USAGE_STATS=False \
    AIRFLOW__COSMOS__ENABLE_TELEMETRY=False \
    SCARF_ANALYTICS=false \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Where the project lives in the image. PROJECT_ROOT in include/cx/config.py resolves
# to /opt/airflow because the package is installed in editable mode from here, and
# /opt/airflow/dags and /opt/airflow/plugins are Airflow's default folders.
ENV CX_DBT_PROJECT_DIR=/opt/airflow/dbt_project \
    DBT_PROFILES_DIR=/opt/airflow/dbt_project \
    CX_DATA_DIR=/opt/cx/data \
    CX_WAREHOUSE=/opt/cx/data/warehouse/cx.duckdb \
    CX_ARTIFACTS_DIR=/opt/cx/data/artifacts \
    CX_LANDING_DIR=/opt/cx/landing

WORKDIR /opt/airflow

# Data mount points, owned by the airflow user so that a fresh named volume mounted
# here (cx-data) inherits that ownership. Needs root only for this step.
USER root
RUN mkdir -p /opt/cx/data/warehouse /opt/cx/data/artifacts /opt/cx/landing \
 && chown -R airflow:0 /opt/cx \
 && chmod -R g+rwX /opt/cx
USER airflow

# Dependencies first (cached layer while only code changes): the runtime only,
# requirements.txt (tests and linters are in requirements-dev.txt, not in the image).
# Airflow is pinned to the image's own version (AIRFLOW_VERSION is set by the base
# image) and everything else to the project's lock, so pip never up- or downgrades
# Airflow underneath the image.
# The compose deployment needs the image's Celery, Postgres and FAB providers: the build
# fails here (not at run time) if the lock left them unimportable or inconsistent.
COPY --chown=airflow:0 requirements.txt constraints.txt /opt/airflow/
RUN pip install "apache-airflow==${AIRFLOW_VERSION}" \
        -r /opt/airflow/requirements.txt \
        -c /opt/airflow/constraints.txt \
 && python -c "import airflow, sys; v = airflow.__version__; sys.exit(0 if v == '${AIRFLOW_VERSION}' else f'airflow {v} != image ${AIRFLOW_VERSION}')" \
 && python -c "import airflow.providers.celery, airflow.providers.postgres, airflow.providers.fab, psycopg2, redis" \
 && pip check

# The project itself: importable package, DAGs, plugins and the dbt project.
COPY --chown=airflow:0 pyproject.toml /opt/airflow/pyproject.toml
COPY --chown=airflow:0 include/ /opt/airflow/include/
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 dbt_project/ /opt/airflow/dbt_project/
RUN pip install --no-deps -e /opt/airflow \
 && python -c "import cx.config; print('cx project root:', cx.config.PROJECT_ROOT)"

# The DAG renders its dbt tasks from dbt_project/target/manifest.json, so the image must
# ship one. `dbt parse` does not open the warehouse; dbt deps runs only if the project
# declares packages. The profile's values come from cx.config (python -m cx.config --dbt-env).
RUN cd /opt/airflow/dbt_project \
 && export $(python -m cx.config --dbt-env) \
 && if [ -f packages.yml ] || [ -f dependencies.yml ]; then dbt deps --project-dir . --profiles-dir .; fi \
 && dbt parse --project-dir . --profiles-dir . \
 && test -s target/manifest.json \
 && rm -rf logs

# docker-compose.yml gives each role its own healthcheck; this default only says the
# image is sound (package importable, dbt manifest present).
HEALTHCHECK --interval=60s --timeout=20s --start-period=30s --retries=3 \
    CMD test -s /opt/airflow/dbt_project/target/manifest.json && python -c "import cx.config" || exit 1
