"""The task: read, validate, record, render the docs, gate."""

from __future__ import annotations

import json
import logging
import shutil
import time
from datetime import date

from cx.config import Settings, load_settings
from cx.quality.checkpoint._docs_site import docs_dir, share_static_files, write_day_index, write_docs_home
from cx.quality.checkpoint._frames import load_frames
from cx.quality.checkpoint._results import gate, recorded_state_suites, summarize, write_results
from cx.quality.checkpoint._validator import Validator, validate_frames
from cx.quality.policy import Policy, load_policy
from cx.quality.project import stage_specs
from cx.warehouse import connect

log = logging.getLogger(__name__)


def run(
    run_from: date, run_to: date, settings: Settings | None = None, policy: Policy | None = None, stage: str = "inputs"
) -> dict:
    """Validate the run's partition for ``stage``; raise DataQualityError on critical failures.

    dq_results and Data Docs are written first, so a failed run is fully reported.
    """
    settings = settings or load_settings()
    policy = policy or load_policy()
    specs = stage_specs(stage)
    started = time.monotonic()
    with connect(settings) as con:
        loaded = load_frames(con, run_from, run_to, policy, settings, stage)
    read_s = time.monotonic() - started

    target = docs_dir(settings, run_to, stage)
    shutil.rmtree(target, ignore_errors=True)  # a re-run leaves only its own pages
    target.mkdir(parents=True, exist_ok=True)
    mark = time.monotonic()
    validator = Validator(policy, target, run_name=f"{run_to.isoformat()}_{stage}")  # imports GX on first use
    context_s = time.monotonic() - mark
    results = validate_frames(loaded.frames, loaded.params, validator, stage)
    validate_s = time.monotonic() - mark - context_s
    docs_index = validator.build_docs()
    share_static_files(settings.data_docs_dir, target)
    docs_s = time.monotonic() - mark - context_s - validate_s

    with connect(settings) as con:
        kept = recorded_state_suites(con, loaded.params, specs)
        if kept:
            log.info(
                "re-run of %s after newer days: the recorded results of %s stay (they describe the "
                "warehouse as of that day; the checks above gated this run)",
                run_to,
                ", ".join(kept),
            )
        write_results(con, [r for r in results if r.suite not in kept], run_to, [s for s in specs if s not in kept])

    warnings = [r.describe() for r in results if r.failed and r.severity == "warning"]
    critical = [r.describe() for r in results if r.failed and r.severity == "critical"]
    for name, why in loaded.missing.items():
        log.warning("not validated: %s: %s", name, why)
    summary = {
        **summarize(results),
        "stage": stage,
        "as_of_date": run_to.isoformat(),
        "suites": len(specs) - len(loaded.missing),
        "critical_failures": critical,
        "warnings": warnings,
        "not_validated": loaded.missing,
        "data_docs": str(docs_index) if docs_index else None,
        "seconds": {
            "read": round(read_s, 2),
            "gx_context": round(context_s, 2),
            "validate": round(validate_s, 2),
            "docs": round(docs_s, 2),
            "total": round(time.monotonic() - started, 2),
        },
    }
    (target / "summary.json").write_text(json.dumps(summary, indent=1, default=str), encoding="utf-8")
    write_day_index(target.parent)
    write_docs_home(settings.data_docs_dir)
    log.info("data quality (%s): %s", stage, json.dumps(summary, default=str))
    gate(results, run_from, run_to, stage, docs_index)
    return summary
