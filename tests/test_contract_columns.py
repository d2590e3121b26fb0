"""The landing columns in cx.contract are the ones docs/contract.md section 1 lists
(names, order, required marks), and the identifying columns are kept out of the
marts by the dbt test that lists them."""

from __future__ import annotations

import re

import yaml

from cx.config import PROJECT_ROOT
from cx.contract import IDENTIFYING_COLUMNS, LANDING_SOURCES

DOC = PROJECT_ROOT / "docs" / "contract.md"
DBT = PROJECT_ROOT / "dbt_project"


def _documented_sources() -> dict[str, list[str]]:
    """source -> its column cells as written in section 1's table (required ones end in *)."""
    landing = DOC.read_text().split("## 1.", 1)[1].split("## 2.", 1)[0]
    rows = {}
    for line in landing.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] in LANDING_SOURCES:
            rows[cells[0]] = [c.strip() for c in cells[1].split(",")]
    return rows


def test_landing_columns_are_the_contracts() -> None:
    documented = _documented_sources()
    assert set(documented) == set(LANDING_SOURCES)
    for name, spec in LANDING_SOURCES.items():
        cells = documented[name]
        assert tuple(c.rstrip("*") for c in cells) == spec.columns, name
        assert tuple(c.rstrip("*") for c in cells if c.endswith("*")) == spec.required, name


def test_identifying_columns_stay_out_of_the_marts() -> None:
    sql = (DBT / "tests" / "assert_no_personal_data_in_marts.sql").read_text()
    listed = re.search(r"unnest\(\[(.*?)\]\)", sql, re.S)
    assert listed, "the dbt test lists the identifying columns"
    assert set(re.findall(r"'(\w+)'", listed.group(1))) == {*IDENTIFYING_COLUMNS, "full_name"}
    # Each landing source documents its identifying columns for dbt (descriptions, docs).
    sources = yaml.safe_load((DBT / "models" / "staging" / "_sources.yml").read_text())["sources"][0]["tables"]
    documented = {t["name"]: {c["name"] for c in t.get("columns", [])} for t in sources}
    for name, spec in LANDING_SOURCES.items():
        assert set(spec.columns) & set(IDENTIFYING_COLUMNS) <= documented[name], name
