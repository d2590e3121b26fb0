"""Each model against its baseline in one verdict: the stage's own gate, read back.

The model stages write every metric to ``model_runs`` with a ``passed`` flag, but
not every flag is the gate: recommendations gate on precision@k (coverage is context),
forecasts publish Prophet per series only when its backtest MASE beats seasonal
naive (interval coverage is a calibration check, not the gate), sentiment falls back
to the lexicon (its ``fallback`` row says so), segmentation must reach its silhouette
and stability floors. :data:`GATES` names the rows that decided, so the page says
what the pipeline did instead of counting unrelated flags.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb
import pandas as pd

from cx.ui.queries import model_metrics

# model -> metric prefixes whose `passed` the stage used to decide what to publish.
GATES: dict[str, tuple[str, ...]] = {
    "recommendations": ("p@",),
    "forecast": ("mase:",),
    "segmentation": ("silhouette", "stability"),
    "retention": ("auc", "spearman"),  # risk and value, each against its baseline
}
PUBLISHED, PARTLY, BASELINE, FAILED = "model published", "partly", "baseline kept", "below floor"
NO_RUN, NO_GATE = "no run", "no verdict"
BASELINE_NAMES = {
    "recommendations": "best simple recommender",
    "forecast": "seasonal naive",
    "sentiment": "lexicon",
    "segmentation": "quality floors",
    "retention": "recency and spend-rate baselines",
}


@dataclass
class ModelVerdict:
    model: str
    state: str  # one of PUBLISHED, PARTLY, BASELINE, FAILED, NO_RUN, NO_GATE
    summary: str
    run_as_of: date | None = None
    model_version: str = ""
    gate_rows: list[dict[str, Any]] = field(default_factory=list)
    context_rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def css(self) -> str:
        return {PUBLISHED: "pass", PARTLY: "warn", BASELINE: "warn", FAILED: "fail"}.get(self.state, "muted")


def _details(value: Any) -> dict[str, Any]:
    try:
        parsed = json.loads(value) if isinstance(value, str) else None
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _is_gate(model: str, metric: str) -> bool:
    return any(metric.startswith(p) for p in GATES.get(model, ()))


def verdict(model: str, rows: list[dict[str, Any]]) -> ModelVerdict:
    """One model's verdict from its newest run's rows (``model_metrics`` records)."""
    if not rows:
        return ModelVerdict(model, NO_RUN, "no run on or before this day")
    head = rows[0]
    versions = ", ".join(sorted({str(r["model_version"]) for r in rows if r.get("model_version")}))
    out = ModelVerdict(model, NO_GATE, "", head["run_as_of"], versions)
    if model == "sentiment":
        return _sentiment(out, rows)
    out.gate_rows = [r for r in rows if _is_gate(model, r["metric"])]
    out.context_rows = [r for r in rows if not _is_gate(model, r["metric"])]
    decided = [r for r in out.gate_rows if r.get("passed") is not None]
    if not decided and any(r["metric"] == "label_free" for r in rows):
        out.summary = "label-free BG/NBD published: too little history to learn or choose from"
        return out
    if not decided:
        out.summary = "no gate result recorded"
        return out
    passed = sum(bool(r["passed"]) for r in decided)
    base = BASELINE_NAMES.get(model, "baseline")
    if model == "forecast":
        out.state = PUBLISHED if passed == len(decided) else PARTLY if passed else BASELINE
        out.summary = (
            f"{passed} of {len(decided)} series: Prophet beats {base} on backtest MASE; "
            f"{len(decided) - passed} keep {base}"
        )
    elif model == "segmentation":
        out.state = PUBLISHED if passed == len(decided) else FAILED
        out.summary = (
            "silhouette and stability above their floors"
            if out.state == PUBLISHED
            else "below a quality floor: " + ", ".join(r["metric"] for r in decided if not r["passed"])
        )
    else:
        gate = decided[0]
        out.state = PUBLISHED if passed == len(decided) else BASELINE
        lift = _lift(gate)
        out.summary = (
            f"{gate['metric']} {_fmt(gate['value'])} vs {base} {_fmt(gate['baseline_value'])}"
            f"{f' ({lift})' if lift else ''}: " + ("model published" if out.state == PUBLISHED else f"{base} published")
        )
    return out


def _sentiment(out: ModelVerdict, rows: list[dict[str, Any]]) -> ModelVerdict:
    fallback = next((r for r in rows if r["metric"] == "fallback"), None)
    out.gate_rows = [r for r in rows if r["metric"] in ("macro_f1", "roc_auc")]
    out.context_rows = [r for r in rows if r["metric"] not in ("macro_f1", "roc_auc", "fallback")]
    if fallback is None or fallback.get("value") is None:
        decided = [r for r in out.gate_rows if r.get("passed") is not None]
        if not decided:
            out.summary = "no gate result recorded"
            return out
        out.state = PUBLISHED if all(r["passed"] for r in decided) else BASELINE
    else:
        out.state = BASELINE if fallback["value"] else PUBLISHED
    reason = _details(fallback.get("details") if fallback else None).get("reason")
    out.summary = "trained model published, beats the lexicon" if out.state == PUBLISHED else "lexicon published"
    if reason:
        out.summary += f" ({reason})"
    return out


def _fmt(value: Any) -> str:
    return "–" if value is None or (isinstance(value, float) and pd.isna(value)) else f"{float(value):.4g}"


def _lift(row: dict[str, Any]) -> str:
    value, base = row.get("value"), row.get("baseline_value")
    if value is None or base is None or pd.isna(value) or pd.isna(base) or base == 0:
        return ""
    return f"{(value / base - 1) * 100:+.1f}%"


def model_verdicts(con: duckdb.DuckDBPyConnection, day: date) -> list[ModelVerdict]:
    """Every model's verdict from its newest run on or before ``day``."""
    frame = model_metrics(con, day)
    if "details" not in frame:
        frame = frame.assign(details=_details_column(con, frame))
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    models = sorted({r["model"] for r in rows} | {"recommendations", "forecast", "segmentation", "sentiment"})
    return [verdict(m, [r for r in rows if r["model"] == m]) for m in models]


def _details_column(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> list[Any]:
    """model_metrics leaves details out (they can be large): only the fallback rows' are read."""
    out: list[Any] = []
    for r in frame.itertuples():
        if r.metric == "fallback":
            row = con.execute(
                "select details from main.model_runs where model = ? and metric = ? and as_of_date = ?",
                [r.model, r.metric, r.run_as_of],
            ).fetchone()
            out.append(row[0] if row else None)
        else:
            out.append(None)
    return out
