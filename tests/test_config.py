"""cx.config: one typed settings class for every CX_* variable, validated at load."""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path

import pytest
import yaml

from cx.config import ENV_PREFIX, Settings, dbt_process_env, load_settings, main, markdown_table, variable
from cx.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[1]
# CX_ names that are not settings: internal hand-overs and test switches.
NOT_SETTINGS = {
    "CX_GX_DATA_DOCS_DIR",  # cx.quality hands the day's Data Docs folder to great_expectations.yml
    "CX_LANDING_HOST_DIR",  # docker-compose.yml: the host folder mounted as the landing zone
    "CX_ALERTS",  # AIRFLOW_CONN_CX_ALERTS, an Airflow connection named in the docs
    "CX_BACKFILL_TEST",  # `make test-backfill` switches the long test on
    "CX_RUN_STARTED_AT",  # cx run hands the run's real start to its airflow dags test child
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("CX_DUCKDB_THREADS", "two", "integer"),
        ("CX_DUCKDB_THREADS", "0", "greater than or equal to 1"),
        ("CX_DATE_ORDER", "YMD", "'DMY' or 'MDY'"),
        ("CX_ML_CADENCE", "hourly", "'daily', 'weekly' or 'latest'"),
        ("CX_ML_WEEKDAY", "7", "less than or equal to 6"),
        ("CX_START_DATE", "2024-13-01", "date"),
        ("CX_FRESHNESS_FAIL", "maybe", "boolean"),
        ("CX_FRESHNESS_SLA_OVERRIDES", "prodcts=7", "source among"),
        ("CX_LOCK_TIMEOUT_S", "-1", "greater than 0"),
    ],
)
def test_an_invalid_value_names_the_variable_and_what_it_must_be(monkeypatch, name, value, says) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    message = str(raised.value)
    assert f"{name}={value!r}" in message and says in message, message


def test_values_are_parsed_and_normalised(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("CX_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CX_DATE_ORDER", " mdy ")
    monkeypatch.setenv("CX_ML_CADENCE", "Weekly")
    monkeypatch.setenv("CX_CATCHUP", "off")
    monkeypatch.setenv("CX_FRESHNESS_SLA_OVERRIDES", "products=7, reviews=3")
    monkeypatch.setenv("CX_START_DATE", "2010-12-01")
    monkeypatch.setenv("CX_SEED", "")  # empty: the default
    settings = load_settings()
    assert settings.landing_dir == tmp_path.resolve() / "landing"
    assert settings.warehouse == tmp_path.resolve() / "warehouse" / "cx.duckdb"
    assert (settings.date_order, settings.ml_cadence, settings.catchup) == ("MDY", "weekly", False)
    assert settings.freshness_sla("products") == 7 and settings.freshness_sla("orders") == 2
    assert settings.start_date == date(2010, 12, 1) and settings.seed == 42


def test_replace_validates_like_the_environment(tmp_path) -> None:
    settings = load_settings().replace(warehouse=tmp_path / "w.duckdb", duckdb_threads=1)
    assert settings.warehouse == tmp_path / "w.duckdb" and settings.duckdb_threads == 1
    moved = settings.replace(artifacts_dir=tmp_path / "a", dbt_project_dir=tmp_path / "dbt")
    assert (moved.data_docs_dir, moved.models_dir, moved.charts_dir, moved.dbt_docs_dir) == (
        tmp_path / "a" / "data_docs",
        tmp_path / "a" / "models",
        tmp_path / "a" / "charts",
        tmp_path / "dbt" / "target",
    )
    with pytest.raises(ValueError):
        settings.replace(date_order="YMD")
    with pytest.raises(ValueError):  # frozen: a loaded configuration does not change under a run
        settings.seed = 1


def test_every_cx_variable_the_code_reads_is_a_setting() -> None:
    """A CX_ name used in code, dbt, compose or the image that Settings does not know is
    an unvalidated, undocumented setting (or a typo)."""
    fields = {variable(name) for name in Settings.model_fields}
    found: dict[str, set[str]] = {}
    paths = [
        *ROOT.glob("include/**/*.py"),
        *ROOT.glob("include/cx/bin/*"),
        *ROOT.glob("dags/*.py"),
        *ROOT.glob("plugins/*.py"),
        *ROOT.glob("dbt_project/**/*.yml"),
        *ROOT.glob("dbt_project/**/*.sql"),
        *ROOT.glob("include/gx/*.yml"),
        ROOT / "docker-compose.yml",
        ROOT / "Dockerfile",
        ROOT / ".env.example",
        ROOT / "Makefile",
    ]
    for path in paths:
        if path.is_file():
            for name in re.findall(r"\bCX_[A-Z][A-Z0-9_]*[A-Z0-9]\b", path.read_text(errors="replace")):
                found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    unknown = {name: sorted(where) for name, where in found.items() if name not in fields | NOT_SETTINGS}
    assert not unknown, unknown


def test_the_readme_table_is_the_generated_one() -> None:
    readme = (ROOT / "README.md").read_text()
    table = re.search(r"<!-- config-table:start -->\n(.*?)\n<!-- config-table:end -->", readme, re.S)
    assert table, "README.md lacks the configuration table markers"
    assert table[1] == markdown_table(), "README's table is stale: python -m cx.config --markdown"
    assert all(f"`{variable(name)}`" in table[1] for name in Settings.model_fields)


def test_dbt_gets_every_variable_its_profile_and_project_read() -> None:
    """profiles.yml and dbt_project.yml keep no defaults of their own: dbt_process_env
    passes each value, except the salt (a secret, never rendered into Cosmos task fields)."""
    env = dbt_process_env(load_settings())
    read = set()
    for name in ("profiles.yml", "dbt_project.yml"):
        read |= set(re.findall(r"env_var\('(CX_[A-Z_]+)'", (ROOT / "dbt_project" / name).read_text()))
    assert read - set(env) == {"CX_PII_SALT"}, read - set(env)


def test_the_defaults_repeated_outside_python_equal_the_settings() -> None:
    """The two defaults that cannot come from cx.config: the salt in dbt_project.yml
    (Cosmos workers without CX_PII_SALT) and bin/dbt-locked's (it runs without cx)."""
    defaults = Settings.model_fields
    project = yaml.safe_load((ROOT / "dbt_project" / "dbt_project.yml").read_text())
    assert f"'{defaults['pii_salt'].default}'" in project["vars"]["pii_salt"]
    locked = (ROOT / "include" / "cx" / "bin" / "dbt-locked").read_text()
    assert f"or {defaults['lock_timeout_s'].default:g})" in locked


def test_the_command_line(capsys, monkeypatch) -> None:
    assert main(["--markdown"]) == 0
    assert capsys.readouterr().out.strip() == markdown_table()
    assert main(["--dbt-env"]) == 0
    assert "CX_DUCKDB_THREADS=" in capsys.readouterr().out
    monkeypatch.setenv("CX_SEED", "x")
    assert main(["--check"]) == 1
    assert "CX_SEED='x'" in capsys.readouterr().err
