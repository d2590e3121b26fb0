"""The Great Expectations side: the project's context validates frames, renders Data Docs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from cx.quality.checkpoint._results import CheckResult, _json_safe
from cx.quality.policy import Policy
from cx.quality.project import PROJECT_DIR, STAGES, CheckSpec, SuiteSpec, open_context, stage_specs
from cx.quality.suites import RunParams, expectation_parameters, prepare

log = logging.getLogger(__name__)


def _exception_message(info: Any) -> str | None:
    """GX reports a crashed expectation as exception_info (flat or keyed by metric)."""
    if not info:
        return None
    if isinstance(info, dict) and "raised_exception" in info:
        return (info.get("exception_message") or "error") if info.get("raised_exception") else None
    if isinstance(info, dict):
        for value in info.values():
            message = _exception_message(value if isinstance(value, dict) else getattr(value, "to_json_dict", dict)())
            if message:
                return message
    return None


def _frame_for_gx(frame: pd.DataFrame) -> pd.DataFrame:
    """Plain numpy dtypes: GX's pandas metrics mishandle pd.NA in nullable extension types."""
    out = frame.copy()
    for column, dtype in out.dtypes.items():
        if isinstance(dtype, pd.BooleanDtype):
            out[column] = out[column].astype(object).where(out[column].notna(), None)
        elif pd.api.types.is_extension_array_dtype(dtype) and pd.api.types.is_numeric_dtype(dtype):
            out[column] = out[column].astype("float64")
    return out


class Validator:
    """The project's GX context for one run: validates frames, renders Data Docs."""

    def __init__(
        self,
        policy: Policy | None = None,
        docs_dir: Path | None = None,
        project_dir: Path = PROJECT_DIR,
        run_name: str | None = None,
    ):
        self.policy = policy or Policy()
        self.run_name = run_name  # GX run name in Data Docs (the run's as-of day and stage)
        self.project_dir = project_dir
        self.docs_dir = docs_dir
        # Without a docs folder (tests, ad-hoc use) GX still needs one for its config.
        self._scratch = None
        if docs_dir is None:
            import tempfile

            self._scratch = tempfile.TemporaryDirectory(prefix="cx-gx-docs-")
        self.context = open_context(docs_dir or Path(self._scratch.name), project_dir)
        self._definitions: dict[str, Any] = {}

    def skipped(self, spec: SuiteSpec, reason: str) -> list[CheckResult]:
        log.info("%s: suite %s skipped: %s", spec.table, spec.name, reason)
        return self._every_check(spec, None, lambda c: {"skipped": reason, "expectation_type": c.type, "why": c.why})

    def _every_check(
        self, spec: SuiteSpec, passed: bool | None, details: Callable[[CheckSpec], dict[str, Any]]
    ) -> list[CheckResult]:
        """One result per check of the suite, for a suite that did not run its checks."""
        return [
            CheckResult(
                spec.name,
                spec.table,
                c.name,
                self.policy.severity(spec.check_id(c.name), c.severity),
                passed,
                details=details(c),
            )
            for c in spec.checks
        ]

    def validate(self, spec: SuiteSpec, frame: pd.DataFrame, parameters: Mapping[str, Any]) -> list[CheckResult]:
        """Run the suite's validation definition on ``frame`` (the run's partition)."""
        definition = self._definitions.get(spec.name)
        if definition is None:
            definition = self._definitions[spec.name] = self.context.validation_definitions.get(spec.name)
        sample_size = self.policy.thresholds.sample_size
        id_columns = [c for c in spec.id_columns if c in frame.columns]
        run_id = None
        if self.run_name:
            from great_expectations.core.run_identifier import RunIdentifier

            run_id = RunIdentifier(run_name=self.run_name)  # GX stamps its own run time (metadata only)
        try:
            outcome = definition.run(
                run_id=run_id,
                batch_parameters={"dataframe": _frame_for_gx(frame)},
                expectation_parameters=dict(parameters),
                result_format={
                    "result_format": "SUMMARY",
                    "partial_unexpected_count": sample_size,
                    **({"unexpected_index_column_names": id_columns} if id_columns else {}),
                },
            )
        except Exception as error:
            log.exception("suite %s could not run", spec.name)
            message = f"{type(error).__name__}: {error}"[:500]
            return self._every_check(
                spec,
                False,
                lambda c: {
                    "error": message,
                    "expectation_type": c.type,
                    "column": c.column,
                    "why": c.why,
                    "rows": len(frame),
                },
            )
        checks = {c.name: c for c in spec.checks}
        results = []
        for item in outcome.results:
            config = item.expectation_config
            check = checks[config.meta["check"]]
            result = item.result or {}
            error = _exception_message(item.exception_info)
            samples = result.get("partial_unexpected_index_list") or result.get("partial_unexpected_list") or []
            kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}  # parameters resolved
            details = {
                "expectation_type": config.type,
                "column": check.column,
                "kwargs": _json_safe(kwargs),
                "why": check.why,
                "observed_value": _json_safe(result.get("observed_value")),
                "unexpected_percent": _json_safe(result.get("unexpected_percent")),
                "samples": _json_safe(samples[:sample_size]),
                "rows": len(frame),
            }
            if error:
                details["error"] = error
            results.append(
                CheckResult(
                    suite=spec.name,
                    table=spec.table,
                    expectation=check.name,
                    severity=self.policy.severity(spec.check_id(check.name), check.severity),
                    success=bool(item.success) and not error,
                    unexpected_count=result.get("unexpected_count"),
                    element_count=result.get("element_count"),
                    samples=details["samples"],
                    details={k: v for k, v in details.items() if v is not None},
                )
            )
        order = {c.name: i for i, c in enumerate(spec.checks)}
        return sorted(results, key=lambda r: order[r.expectation])

    def build_docs(self) -> Path | None:
        if self.docs_dir is None:
            return None
        self.context.build_data_docs()
        return self.docs_dir / "index.html"


def validate_frames(
    frames: Mapping[str, pd.DataFrame], params: RunParams, validator: Validator, stage: str | None = None
) -> list[CheckResult]:
    """Run each frame's suite (frames keyed by suite name), in the project's order."""
    specs = stage_specs(stage) if stage else {n: s for st in STAGES for n, s in stage_specs(st).items()}
    parameters = expectation_parameters(params)
    results: list[CheckResult] = []
    for name, spec in specs.items():
        if name not in frames:
            continue
        prepared = prepare(name, frames[name], params)
        results += (
            validator.skipped(spec, prepared.skip)
            if prepared.skip
            else validator.validate(spec, prepared.frame, {**parameters, **prepared.parameters})
        )
    return results
