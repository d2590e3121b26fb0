"""Severity policy: which checks stop the pipeline and which only warn.

Every check has an id ``<table>.<check>`` (e.g. ``fct_orders.order_id_unique``).
The policy maps ids to ``critical`` (the stage raises ``DataQualityError`` and
nothing downstream runs) or ``warning`` (logged, reported in ``dq_results`` and
Data Docs). Rules are shell-style globs, the first match wins; the defaults below
are the reviewed policy and a deployment overrides them with ``CX_DQ_POLICY``
pointing to a YAML or JSON file such as::

    severity:                       # prepended to the defaults, so it wins
      stg_orders.order_id_unique_per_day: critical
      "*.volume_vs_trailing_7d": critical
    thresholds:
      volume_ratio_min: 0.3

Thresholds (bands of the volume and distribution checks) live here too, so
tuning a noisy check never needs a code change.
"""

from __future__ import annotations

import fnmatch
import json
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, Mapping

Severity = Literal["critical", "warning"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning")

POLICY_ENV = "CX_DQ_POLICY"

# First match wins. Keys that break the data's meaning (identity, allowed values,
# ranges, referential integrity, reconciliation) default to critical; statistical
# signals that can move for legitimate business reasons (volume, distributions,
# within-day re-deliveries that dbt resolves by taking the latest version) warn.
DEFAULT_RULES: tuple[tuple[str, Severity], ...] = (
    ("*.volume_vs_trailing_7d", "warning"),
    ("*_median_vs_trailing_28d", "warning"),
    ("*.five_star_share", "warning"),
    ("*.orphan_share", "warning"),
    ("stg_*_unique_per_day", "warning"),
    ("stg_customers.email_format", "warning"),
    ("dim_customers.recency_non_negative", "warning"),
    ("customer_recommendations.product_once_per_customer", "warning"),
    ("sales_forecast.interval_contains_yhat", "warning"),
    ("*", "critical"),
)


@dataclass(frozen=True)
class Thresholds:
    """Bands of the statistical checks (ratios are current / trailing baseline)."""

    # Day volume of clean staged orders vs the mean of the trailing 7 days with data.
    volume_ratio_min: float = 0.5
    volume_ratio_max: float = 2.0
    volume_history_days: int = 7
    volume_min_history_days: int = 3
    # Median order amount of the run's orders vs the trailing 28 days' median.
    median_ratio_min: float = 0.5
    median_ratio_max: float = 2.0
    median_history_days: int = 28
    median_min_history_orders: int = 30
    # Share of 5-star among the run's rated reviews: neither collapsed to 0 nor to 1.
    five_star_share_min: float = 0.02
    five_star_share_max: float = 0.95
    five_star_min_reviews: int = 20
    # Clean order lines whose order is not in fct_orders (quarantined as orphans).
    orphan_share_max: float = 0.02
    # Timestamps later than the run's last day + this many days are "future".
    future_tolerance_days: int = 1
    # Sample values quoted per failed check (error message and dq_results.details).
    sample_size: int = 5


@dataclass(frozen=True)
class Policy:
    rules: tuple[tuple[str, Severity], ...] = DEFAULT_RULES
    thresholds: Thresholds = field(default_factory=Thresholds)

    def severity(self, check_id: str) -> Severity:
        for pattern, severity in self.rules:
            if fnmatch.fnmatchcase(check_id, pattern):
                return severity
        return "critical"


def _parse_file(path: Path) -> Mapping[str, Any]:
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
    """The defaults, overlaid with the file named by ``path`` or ``$CX_DQ_POLICY``."""
    location = path or os.environ.get(POLICY_ENV, "").strip()
    if not location:
        return Policy()
    return policy_from_mapping(_parse_file(Path(location).expanduser()))
