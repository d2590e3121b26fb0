"""The file-based Great Expectations project under ``include/gx`` and its suites.

The suites are JSON files in ``include/gx/expectations`` (reviewed like code). Each
suite's ``meta`` says which table it validates, in which stage of the run
(``inputs``: staged rows and marts, before the model stages; ``published``: the
contract's tables, after publish) and which columns identify a bad row. Each
expectation's ``meta.check`` is its stable name (``dq_results.expectation``), its
``notes`` say why it exists and its ``severity`` is the default the policy starts
from. Run-dependent values (the run's day, history bands) are ``$PARAMETER`` s that
:mod:`cx.quality.suites` fills per run.

Reading the specs needs no GX import (cheap, for listing, tests and the policy);
:func:`open_context` opens the project read-only for validation.

Command line (maintainers)::

    python -m cx.quality.project list    # suites, tables, checks, severities
    python -m cx.quality.project check   # the project is consistent (also a test)
    python -m cx.quality.project sync    # register assets + validation definitions of new suites
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parents[2] / "gx"
DOCS_DIR_VARIABLE = "CX_GX_DATA_DOCS_DIR"  # substituted into great_expectations.yml
DATASOURCE = "cx_run_frames"
BATCH_DEFINITION = "run_partition"
STAGES = ("inputs", "published")
SEVERITIES = ("critical", "warning")


@dataclass(frozen=True)
class CheckSpec:
    name: str  # meta.check, unique within the suite
    type: str  # GX snake-case expectation type
    kwargs: dict[str, Any]
    severity: str  # default severity (the policy may override it)
    why: str

    @property
    def column(self) -> str | None:
        value = self.kwargs.get("column") or self.kwargs.get("column_list") or self.kwargs.get("column_A")
        return None if value is None else (", ".join(value) if isinstance(value, list) else str(value))

    @property
    def parameters(self) -> set[str]:
        return set(_parameters(self.kwargs))


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    table: str
    stage: str
    id_columns: tuple[str, ...]
    description: str
    checks: tuple[CheckSpec, ...]

    def check_id(self, check: str) -> str:
        return f"{self.name}.{check}"


def _parameters(value: Any) -> list[str]:
    if isinstance(value, dict):
        if set(value) == {"$PARAMETER"}:
            return [str(value["$PARAMETER"])]
        return [p for v in value.values() for p in _parameters(v)]
    if isinstance(value, list):
        return [p for v in value for p in _parameters(v)]
    return []


def _spec(data: dict[str, Any], path: Path) -> SuiteSpec:
    meta = data.get("meta") or {}
    checks = []
    for i, item in enumerate(data.get("expectations") or []):
        name = (item.get("meta") or {}).get("check")
        if not name:
            raise ValueError(f"{path}: expectation #{i} ({item.get('type')}) has no meta.check name")
        checks.append(
            CheckSpec(
                name,
                item["type"],
                dict(item.get("kwargs") or {}),
                item.get("severity") or "critical",
                item.get("notes") or "",
            )
        )
    return SuiteSpec(
        data["name"],
        str(meta.get("table", "")),
        str(meta.get("stage", "")),
        tuple(meta.get("id_columns") or ()),
        data.get("notes") or "",
        tuple(checks),
    )


@lru_cache(maxsize=4)
def load_specs(project_dir: Path = PROJECT_DIR) -> dict[str, SuiteSpec]:
    """Every suite of the project by name, read from its JSON (sorted by file name)."""
    specs = {}
    for path in sorted((project_dir / "expectations").glob("*.json")):
        spec = _spec(json.loads(path.read_text(encoding="utf-8")), path)
        specs[spec.name] = spec
    if not specs:
        raise FileNotFoundError(f"no expectation suites under {project_dir / 'expectations'}")
    return specs


def stage_specs(stage: str, project_dir: Path = PROJECT_DIR) -> dict[str, SuiteSpec]:
    if stage not in STAGES:
        raise ValueError(f"unknown validation stage {stage!r}; expected one of {STAGES}")
    return {name: spec for name, spec in load_specs(project_dir).items() if spec.stage == stage}


def open_context(docs_dir: Path, project_dir: Path = PROJECT_DIR) -> Any:
    """The project's GX context; Data Docs go to ``docs_dir``, nothing is written to the project."""
    # Analytics off before GX is imported (the project config says so too).
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    os.environ[DOCS_DIR_VARIABLE] = str(docs_dir)
    import great_expectations as gx

    return gx.get_context(mode="file", context_root_dir=str(project_dir))


def check_project(known_parameters: set[str], project_dir: Path = PROJECT_DIR) -> list[str]:
    """Consistency problems of the project (empty when fine); no GX import."""
    problems: list[str] = []
    specs = load_specs.__wrapped__(project_dir)
    definitions = {
        p.stem: json.loads(p.read_text(encoding="utf-8"))
        for p in (project_dir / "validation_definitions").glob("*.json")
    }
    config = (project_dir / "great_expectations.yml").read_text(encoding="utf-8")
    for name, spec in specs.items():
        where = f"suite {name}"
        if not re.fullmatch(r"(staging|marts|main)\.\w+", spec.table):
            problems.append(f"{where}: meta.table {spec.table!r} is not a schema-qualified table")
        if spec.stage not in STAGES:
            problems.append(f"{where}: meta.stage {spec.stage!r} not in {STAGES}")
        if not spec.id_columns:
            problems.append(f"{where}: meta.id_columns is empty (bad rows could not be found)")
        if not spec.checks:
            problems.append(f"{where}: no expectations")
        names = [c.name for c in spec.checks]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"{where}: check name {dup!r} used twice")
        for check in spec.checks:
            if check.severity not in SEVERITIES:
                problems.append(f"{where}.{check.name}: severity {check.severity!r} not in {SEVERITIES}")
            if not check.why:
                problems.append(f"{where}.{check.name}: notes (why the check exists) are empty")
            for parameter in sorted(check.parameters - known_parameters):
                problems.append(f"{where}.{check.name}: unknown $PARAMETER {parameter!r}")
        definition = definitions.get(name)
        if definition is None:
            problems.append(f"{where}: no validation definition (run `python -m cx.quality.project sync`)")
        elif definition["suite"]["name"] != name or definition["data"]["asset"]["name"] != name:
            problems.append(f"{where}: validation definition points elsewhere")
        if not re.search(rf"^      {re.escape(name)}:\n        type: dataframe", config, re.M):
            problems.append(f"{where}: no dataframe asset in great_expectations.yml (run sync)")
    for stale in sorted(set(definitions) - set(specs)):
        problems.append(f"validation definition {stale} has no suite")
    return problems


def sync(project_dir: Path = PROJECT_DIR) -> list[str]:
    """Register the dataframe asset and validation definition of every suite lacking them.

    The one command that writes to the project (a maintainer runs it after adding a
    suite JSON); returns the names it added.
    """
    config_path = project_dir / "great_expectations.yml"
    context_id = re.search(r"^data_context_id: *(\S*)", config_path.read_text(encoding="utf-8"), re.M)
    with tempfile.TemporaryDirectory() as docs:
        context = open_context(Path(docs), project_dir)
        import great_expectations as gx

        try:
            source = context.data_sources.get(DATASOURCE)
        except (KeyError, ValueError):
            source = context.data_sources.add_pandas(DATASOURCE)
        existing = {d.name for d in context.validation_definitions.all()}
        added = []
        for name in load_specs.__wrapped__(project_dir):
            if name in existing:
                continue
            asset_names = {a.name for a in source.assets}
            asset = source.get_asset(name) if name in asset_names else source.add_dataframe_asset(name=name)
            batch = (
                asset.get_batch_definition(BATCH_DEFINITION)
                if BATCH_DEFINITION in {b.name for b in asset.batch_definitions}
                else asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)
            )
            suite = context.suites.get(name)
            if not suite.id or any(not e.id for e in suite.expectations):
                suite = context.suites.add_or_update(suite)  # a hand-written suite gets its ids
            context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
            added.append(name)
    if added and context_id and context_id.group(1):
        # GX rewrites the config without the context id: keep the committed one.
        text = config_path.read_text(encoding="utf-8")
        config_path.write_text(
            re.sub(r"^data_context_id:.*$", f"data_context_id: {context_id.group(1)}", text, flags=re.M),
            encoding="utf-8",
        )
    return added


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cx.quality.project", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("list", "check", "sync"))
    args = parser.parse_args(argv)
    if args.command == "list":
        for spec in load_specs.__wrapped__(PROJECT_DIR).values():
            print(f"{spec.name}  [{spec.stage}] {spec.table}: {spec.description}")
            for c in spec.checks:
                print(f"    {c.severity:8s} {c.name}  ({c.type}{f' on {c.column}' if c.column else ''}): {c.why}")
        return 0
    if args.command == "sync":
        added = sync()
        print(f"registered: {', '.join(added) or 'nothing (every suite has its validation definition)'}")
    from cx.quality.suites import PARAMETERS

    problems = check_project(set(PARAMETERS))
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(load_specs.__wrapped__(PROJECT_DIR))} suites, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
