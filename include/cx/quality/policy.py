"""Severity policy and thresholds: which checks stop the pipeline, and their bands.

Every check has an id ``<suite>.<check>`` (e.g. ``main_fct_orders.order_id_unique``).
``critical``: the validation task raises ``DataQualityError``, so the model stages
do not run on broken data. ``warning``: the run continues; the failure is logged,
returned in the task's summary, written to ``dq_results`` and shown in Data Docs.

Each expectation's default severity is in its suite JSON (``include/gx/expectations``,
reviewed like code). A deployment overrides severities and thresholds without a code
change with ``CX_DQ_POLICY`` pointing to a YAML or JSON file such as::

    severity:                       # shell-style globs, first match wins
      stg_orders.order_id_unique_per_day: critical
      "*_volume.*": critical
    thresholds:
      volume_ratio_min: 0.3
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

Severity = Literal["critical", "warning"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning")

POLICY_ENV = "CX_DQ_POLICY"


@dataclass(frozen=True)
class Thresholds:
    """Bands of the statistical checks, and what counts as enough history for them."""

    # Timestamps later than the run's last day + this many days are "future"
    # (dbt's var future_tolerance_days: same rule, so GX re-checks what dbt promised).
    future_tolerance_days: int = 1
    # Clean rows per extraction day vs the mean of the trailing days that had rows.
    volume_ratio_min: float = 0.5
    volume_ratio_max: float = 2.0
    volume_history_days: int = 7
    volume_min_history_days: int = 3
    # Share of clean orders / lines whose parent is known (the rest is quarantined as orphans).
    known_share_min: float = 0.98
    # Distribution checks compare the run's mix with the trailing mix by KL divergence.
    # A sample of n rows over k categories drawn from the trailing mix itself has
    # 2n*KL ~ chi2(k-1), so the limit is that law's (1 - kl_false_alarm_rate) quantile
    # / 2n, never below the floor: as strict as the day's sample size allows.
    kl_false_alarm_rate: float = 0.001
    # Rating mix: the run's 1..5 star mix vs the trailing days' mix.
    rating_history_days: int = 28
    rating_min_reviews: int = 20
    rating_min_history_reviews: int = 100
    rating_kl_floor: float = 0.05
    # Order amounts: median within a band of the trailing median, and the mix over
    # the trailing deciles.
    amount_history_days: int = 28
    amount_min_orders: int = 30
    amount_min_history_orders: int = 300
    amount_median_ratio_min: float = 0.5
    amount_median_ratio_max: float = 2.0
    amount_kl_floor: float = 0.05
    # Sample values quoted per failed check (error message and dq_results.details).
    sample_size: int = 5


@dataclass(frozen=True)
class Policy:
    # Overrides of the suites' default severities: (glob on "<suite>.<check>", severity).
    rules: tuple[tuple[str, Severity], ...] = ()
    thresholds: Thresholds = field(default_factory=Thresholds)

    def severity(self, check_id: str, default: str) -> Severity:
        for pattern, severity in self.rules:
            if fnmatch.fnmatchcase(check_id, pattern):
                return severity
        if default not in SEVERITIES:
            raise ValueError(f"{check_id}: default severity {default!r} not in {SEVERITIES}")
        return default  # type: ignore[return-value]


def _parse_file(path: Path) -> Mapping[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"{POLICY_ENV}={path}: no such data-quality policy file")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yml", ".yaml"):
        import yaml

        data = yaml.safe_load(text) or {}
    else:
        data = json.loads(text or "{}")
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: the data-quality policy must be a mapping")
    return data


def policy_from_mapping(data: Mapping[str, Any], base: Policy | None = None) -> Policy:
    """Overlay ``data`` (keys ``severity`` and ``thresholds``) on ``base``."""
    base = base or Policy()
    unknown = set(data) - {"severity", "thresholds"}
    if unknown:
        raise ValueError(f"unknown data-quality policy keys: {sorted(unknown)}")
    rules: list[tuple[str, Severity]] = []
    for pattern, severity in (data.get("severity") or {}).items():
        if severity not in SEVERITIES:
            raise ValueError(f"severity of {pattern!r} must be one of {SEVERITIES}, got {severity!r}")
        rules.append((str(pattern), severity))
    known = {f.name: f.type for f in fields(Thresholds)}
    overrides = dict(data.get("thresholds") or {})
    bad = set(overrides) - set(known)
    if bad:
        raise ValueError(f"unknown data-quality thresholds: {sorted(bad)}")
    typed = {k: (int(v) if known[k] in ("int", int) else float(v)) for k, v in overrides.items()}
    return Policy(rules=(*rules, *base.rules), thresholds=replace(base.thresholds, **typed))


def load_policy(path: str | os.PathLike[str] | None = None) -> Policy:
    """The suites' defaults, overlaid with the file named by ``path`` or ``$CX_DQ_POLICY``."""
    from cx.config import load_settings

    location = path or load_settings().dq_policy
    if not location:
        return Policy()
    return policy_from_mapping(_parse_file(Path(location).expanduser()))
