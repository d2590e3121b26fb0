"""One chart per series: recent history, the published forecast and its interval."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from cx.models.forecast._config import ForecastConfig, SeriesForecast


def chart_name(result: SeriesForecast) -> str:
    """File name the UI lists: letters, digits, '_', '.', '-' only, e.g. total_revenue.png."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{result.series}_{result.metric}").strip("_.-")
    return f"{stem or 'series'}.png"


def save_chart(result: SeriesForecast, history: pd.Series, path: Path, tail_days: int, interval_width: float) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display on workers
    import matplotlib.pyplot as plt

    tail = history.iloc[-tail_days:]
    fc = result.forecast
    ds = pd.to_datetime(fc["ds"])
    fig, ax = plt.subplots(figsize=(10, 4))
    try:
        ax.plot(tail.index, tail.to_numpy(), color="#444444", lw=1, label="history")
        ax.plot(ds, fc["yhat"], color="#1f77b4", lw=1.5, label=result.model_version)
        ax.fill_between(
            ds, fc["yhat_lower"], fc["yhat_upper"], color="#1f77b4", alpha=0.2, label=f"{interval_width:.0%} interval"
        )
        ax.set_title(f"{result.series} {result.metric}", loc="left")
        ax.set_title(result.reason, loc="right", fontsize=8)
        ax.legend(loc="upper left")
        fig.autofmt_xdate()
        fig.tight_layout()
        fig.savefig(path, dpi=90)
    finally:
        plt.close(fig)
    return path


def write_charts(
    results: list[SeriesForecast], series: dict[tuple[str, str], pd.Series], directory: Path, cfg: ForecastConfig
) -> list[Path]:
    """One PNG per series in ``directory`` (the day's folder), replaced as a whole so a
    re-run never leaves charts of series that are no longer forecast."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        for result in results:
            save_chart(
                result,
                series[(result.series, result.metric)],
                staging / chart_name(result),
                cfg.chart_history_days,
                cfg.interval_width,
            )
        if directory.exists():
            shutil.rmtree(directory)
        staging.rename(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(directory.glob("*.png"))
