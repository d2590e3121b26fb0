# cx-personalization: the commands users rely on.
#   make demo                      everything, on generated data
#   make test                      the whole test suite
#   make test-fast                 the unit tests only (no Airflow, no dbt process; under 90 s)
#   make lint                      ruff (lint + format check) and sqlfluff on the dbt project
#   make run FROM=... TO=...       the pipeline over a range, on $CX_LANDING_DIR into $CX_WAREHOUSE
#   make airflow                   the Airflow UI (prints its URL and the admin password file)
#   make test-acceptance           UCI and foreign-shop landing zones through make run
#   make test-backfill             the long backfill test (real scheduler, 14 days)
#   make docs                      dbt docs site under $CX_ARTIFACTS_DIR/dbt_docs

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BOOT ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

ROOT := $(abspath .)
DATA_DIR ?= $(ROOT)/include/data
export CX_LANDING_DIR ?= $(DATA_DIR)/landing
export CX_WAREHOUSE ?= $(DATA_DIR)/warehouse/cx.duckdb
export CX_ARTIFACTS_DIR ?= $(DATA_DIR)/artifacts

# Airflow runs embedded: metadata in SQLite under .airflow, this project's DAGs.
export AIRFLOW_HOME ?= $(ROOT)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(ROOT)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(ROOT)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS ?= admin:admin
# Telemetry off everywhere: there is no internet, and users do not want it.
export AIRFLOW__COSMOS__ENABLE_TELEMETRY := False
export AIRFLOW__USAGE_DATA_COLLECTION__ENABLED := False
export SCARF_ANALYTICS := false
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := False
export GX_ANALYTICS_ENABLED := False

DEMO_START ?= 2024-09-01
DEMO_DAYS ?= 90
DEMO_CUSTOMERS ?= 3000
DEMO_DAILY_RUNS ?= 3
DEMO_LAPSERS ?= 0.1

.PHONY: help install airflow-init demo generate run run-args summary test test-fast lint test-acceptance test-backfill docs airflow clean

help:
	@grep -E '^#   make' Makefile | sed 's/^#   //'

# The development environment: the runtime (requirements.txt, what the image ships)
# plus tests and linters (requirements-dev.txt), all pinned by constraints.txt.
$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@command -v $(PYTHON_BOOT) >/dev/null || { echo "Python 3.11 is required ($(PYTHON_BOOT) not found; set PYTHON_BOOT=...)"; exit 1; }
	@# an existing working 3.11 venv is kept: re-running venv over one made by another interpreter breaks it
	@$(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null || { \
		echo "$(PYTHON_BOOT) -m venv --clear $(VENV)"; $(PYTHON_BOOT) -m venv --clear $(VENV); }
	$(PY) -m pip install --quiet --upgrade pip wheel setuptools
	$(PY) -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Airflow metadata DB, the DuckDB writer pool, and the dbt manifest the DAG renders from.
airflow-init: install
	$(VENV)/bin/airflow db migrate > /dev/null
	$(VENV)/bin/airflow pools set cx_duckdb 1 "DuckDB allows one writer" > /dev/null
	$(PY) -c "from cx.transform import parse; parse()" > /dev/null

generate: install
	$(PY) -m cx.generate --out $(CX_LANDING_DIR) --start $(DEMO_START) --days $(DEMO_DAYS) \
		--customers $(DEMO_CUSTOMERS) --seed 42 --lapsers $(DEMO_LAPSERS) --overwrite

demo: airflow-init
	@set -e; start=$$(date +%s); \
	rm -rf "$$CX_LANDING_DIR" "$$CX_WAREHOUSE" "$$CX_WAREHOUSE.lock"; \
	$(MAKE) --no-print-directory generate; \
	last=$$($(PY) -c "import datetime as d; print(d.date.fromisoformat('$(DEMO_START)') + d.timedelta(days=$(DEMO_DAYS) - 1))"); \
	bulk_to=$$($(PY) -c "import datetime as d; print(d.date.fromisoformat('$$last') - d.timedelta(days=$(DEMO_DAILY_RUNS)))"); \
	daily_from=$$($(PY) -c "import datetime as d; print(d.date.fromisoformat('$$bulk_to') + d.timedelta(days=1))"); \
	$(PY) -m cx.cli run --die-with-parent --from $(DEMO_START) --to $$bulk_to; \
	$(PY) -m cx.cli run --die-with-parent --from $$daily_from --to $$last --bulk-min-days 999; \
	$(PY) -m cx.cli summary; \
	echo "make demo finished in $$(( $$(date +%s) - start ))s"

run-args:
	@for name in FROM TO; do \
		value=$$(printenv "$$name" || true); \
		[[ "$$value" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$$ && "$$(date -ud "$$value" +%F 2>/dev/null)" == "$$value" ]] || { \
			echo "usage: make run FROM=YYYY-MM-DD TO=YYYY-MM-DD ($$name is not a valid YYYY-MM-DD date)" >&2; exit 2; }; \
	done

# FROM and TO reach the recipe through the environment (make exports command-line
# variables) and are only ever quoted there ("$$FROM"): never expanded into shell text.
# airflow-init (migrating the metadata DB, writing the dbt manifest the DAG reads) under the
# lock `cx.cli run` holds while it runs, so it never rewrites them under a running `make run`.
run: run-args install
	@mkdir -p "$$AIRFLOW_HOME"; lock="$$AIRFLOW_HOME/cx_run.lock"; \
	flock -n "$$lock" true || echo "    waiting: another make run uses $$AIRFLOW_HOME ($$(cat "$$lock"))"; \
	flock "$$lock" bash -c 'echo "make run (pid $$PPID): airflow-init" > "$$1"; $(MAKE) --no-print-directory airflow-init; \
		status=$$?; : > "$$1"; exit $$status' _ "$$lock"
	@exec $(PY) -m cx.cli run --die-with-parent --from "$$FROM" --to "$$TO"
	@exec $(PY) -m cx.cli summary --as-of "$$TO"

summary: install
	$(PY) -m cx.cli summary

# The end-to-end Airflow run is a third of the suite's time: it runs in a second pytest
# process beside the rest (with test_run_airflow, the other test of this worktree's
# Airflow database), so on two cores the suite lasts about as long as the rest. The
# rest's dbt runs write their target and logs to a scratch folder: the manifest the DAG
# renders from is never rewritten under the Airflow runs. Both reports print; either
# failing fails the target.
BESIDE_TESTS := tests/test_end_to_end.py tests/test_run_airflow.py
test: airflow-init
	@scratch=$$(mktemp -d); trap 'kill $$beside 2>/dev/null; rm -rf "$$scratch"' EXIT; \
	$(PY) -m pytest -q -p no:cacheprovider --basetemp "$$scratch/basetemp" --durations=5 $(BESIDE_TESTS) \
		> "$$scratch/beside.log" 2>&1 & beside=$$!; \
	DBT_TARGET_PATH="$$scratch/dbt_target" DBT_LOG_PATH="$$scratch/dbt_logs" \
		$(PY) -m pytest -q --ignore=tests/acceptance $(addprefix --ignore=,$(BESIDE_TESTS)) --durations=10; \
	rest=$$?; wait $$beside; status=$$?; beside=; \
	echo "==== beside: $(BESIDE_TESTS)"; cat "$$scratch/beside.log"; \
	exit $$(( rest || status ))

# Pure units: no Airflow, no dbt process, no generated warehouse (markers in pyproject.toml).
test-fast: install
	$(PY) -m pytest -q --ignore=tests/acceptance -m "not e2e and not airflow and not dbt and not slow"

# ruff (lint, then format as a check) and sqlfluff on the dbt project. sqlfluff's dbt
# templater compiles the models against a scratch warehouse and target directory, so
# it never touches the pipeline's warehouse or the manifest the DAG renders from.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@scratch=$$(mktemp -d); trap 'rm -rf "$$scratch"' EXIT; \
	env $$($(PY) -m cx.config --dbt-env) CX_WAREHOUSE="$$scratch/lint.duckdb" \
		DBT_TARGET_PATH="$$scratch/target" DBT_LOG_PATH="$$scratch/logs" \
		$(VENV)/bin/sqlfluff lint dbt_project --disable-progress-bar

# Real data through the real `make run` path: UCI days and foreign-shop landing zones (~6 min).
test-acceptance: airflow-init
	$(PY) -m pytest -q tests/acceptance

# A real scheduler, a 14-day backfill with several runs at once, a cleared day re-run.
test-backfill: airflow-init
	CX_BACKFILL_TEST=1 $(PY) -m pytest -q -s tests/test_backfill.py

docs: install
	$(PY) -c "from cx.transform import docs_generate; print(docs_generate())"

# airflow standalone starts its components by the bare name `airflow`: the venv's bin
# goes first on PATH, so the command works from a shell with no virtualenv activated.
# Sized to the machine: the LocalExecutor starts one process per task slot at once (32
# by default); at least CX_MAX_ACTIVE_RUNS + 1 slots, as each run but the oldest can hold
# one with its wait_for_earlier_days sensor. Catch-up is off unless asked for: the demo's
# data ends long before today, and a catch-up from CX_START_DATE would queue every day since.
airflow: export CX_CATCHUP ?= false
airflow: export AIRFLOW__CORE__PARALLELISM ?= $(shell n=$$(nproc); r=$${CX_MAX_ACTIVE_RUNS:-4}; echo $$(( 2*n > r+1 ? 2*n : r+1 )))
airflow: export AIRFLOW__API__WORKERS ?= 1
airflow: export AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES ?= $(shell n=$$(nproc); echo $$(( n < 2 ? n : 2 )))
airflow: airflow-init
	@$(PY) -m cx.orchestration.startup
	PATH="$(ROOT)/$(VENV)/bin:$$PATH" $(VENV)/bin/airflow standalone

clean:
	rm -rf $(DATA_DIR) $(AIRFLOW_HOME) dbt_project/target dbt_project/logs
