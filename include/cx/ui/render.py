"""Server-side HTML for the Customer Experience page (Jinja2, autoescaped).

No scripts, fonts or styles from elsewhere: the page works without internet and
its Content-Security-Policy allows nothing but this server.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

import pandas as pd
from jinja2 import DictLoader, Environment, select_autoescape

from cx.ui.artifacts import Charts, chart_title
from cx.ui.reader import Overview, Unavailable

# Colour-blind-safe palette (Okabe-Ito) for segments, assigned by sorted name so a
# segment keeps its colour from day to day.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999")


def fmt_int(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "–"
    return f"{int(value):,}"


def fmt_metric(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{float(value):.4g}"


def fmt_lift(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{float(value) * 100:+.1f}%"


def fmt_day(value: Any) -> str:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def verdict(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return "pass" if bool(value) else "fail"


def records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    if frame is None or frame.empty:
        return []
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def segment_chart(frame: pd.DataFrame, width: int = 760, height: int = 220) -> dict[str, Any] | None:
    """Stacked bars of customers per segment and day, as SVG rectangles."""
    if frame is None or frame.empty:
        return None
    names = sorted(frame["segment_name"].astype(str).unique())
    colours = {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}
    wide = frame.pivot_table(index="as_of_date", columns="segment_name", values="customers",
                             aggfunc="sum", fill_value=0).sort_index()
    top = float(wide.sum(axis=1).max()) or 1.0
    plot_h, left, bottom = height - 30, 48, 20
    slot = (width - left) / len(wide)
    bar_w = min(36.0, max(2.0, slot * 0.8))
    bars = []
    for i, (day, row) in enumerate(wide.iterrows()):
        y = float(plot_h)
        x = left + i * slot + (slot - bar_w) / 2
        for name in names:
            n = float(row.get(name, 0))
            if n <= 0:
                continue
            h = n / top * (plot_h - 10)
            y -= h
            bars.append({"x": round(x, 1), "y": round(y, 1), "w": round(bar_w, 1), "h": round(h, 1),
                         "fill": colours[name], "title": f"{fmt_day(day)} {name}: {int(n):,}"})
    days = list(wide.index)
    ticks = [{"x": round(left + i * slot + slot / 2, 1), "label": fmt_day(days[i])}
             for i in sorted({0, len(days) // 2, len(days) - 1})]
    return {"width": width, "height": height + bottom, "plot_h": plot_h, "left": left, "top": int(top),
            "bars": bars, "ticks": ticks, "legend": [{"name": n, "fill": colours[n]} for n in names]}


def segment_table(frame: pd.DataFrame, days: int = 7) -> dict[str, Any]:
    """The newest ``days`` days as a day x segment table."""
    if frame is None or frame.empty:
        return {"segments": [], "rows": []}
    wide = frame.pivot_table(index="as_of_date", columns="segment_name", values="customers",
                             aggfunc="sum", fill_value=0).sort_index(ascending=False).head(days)
    segments = sorted(wide.columns.astype(str))
    rows = [{"day": fmt_day(day), "counts": [int(row.get(s, 0)) for s in segments], "total": int(row.sum())}
            for day, row in wide.iterrows()]
    return {"segments": segments, "rows": rows}


PAGE = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Customer Experience{% if ov and ov.as_of %} · {{ ov.as_of | day }}{% endif %}</title>
<style>
  :root { color-scheme: light dark; --muted: #6b7280; --line: #d1d5db; --ok: #15803d; --bad: #b91c1c; --warn: #b45309; }
  body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; padding: 16px 24px 48px; max-width: 1200px; }
  h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
  h3 { font-size: 14px; margin: 16px 0 6px; }
  .muted { color: var(--muted); } .small { font-size: 12px; }
  table { border-collapse: collapse; margin: 4px 0 8px; } th, td { padding: 3px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
  th { font-weight: 600; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
  .pass, .success { color: var(--ok); font-weight: 600; } .fail, .failed, .upstream_failed { color: var(--bad); font-weight: 600; }
  .running, .queued, .up_for_retry, .skipped, .warn { color: var(--warn); font-weight: 600; }
  .notice { padding: 10px 14px; border: 1px solid var(--line); border-left: 4px solid var(--warn); margin: 12px 0; }
  .grid { display: flex; flex-wrap: wrap; gap: 12px; } figure { margin: 0; } figure img { max-width: 560px; width: 100%; border: 1px solid var(--line); }
  figcaption { font-size: 12px; color: var(--muted); } nav.top a { margin-right: 14px; } form { display: inline; }
  .legend span { display: inline-block; margin-right: 12px; font-size: 12px; } .legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
</style>
</head>
<body>
<header>
  <h1>Customer Experience</h1>
  {% if ov and ov.as_of %}
  <div>
    Run as of <strong id="as-of">{{ ov.as_of | day }}</strong>
    {% if ov.days|length > 1 %}
    <form method="get" action="./">
      <label class="small">other day <select name="as_of">{% for d in ov.days %}<option value="{{ d | day }}"{% if d == ov.as_of %} selected{% endif %}>{{ d | day }}</option>{% endfor %}</select></label>
      <button type="submit">show</button>
    </form>
    {% endif %}
  </div>
  {% endif %}
  <nav class="top small">
    <a href="#pipeline">Pipeline</a><a href="#published">Published tables</a><a href="#quality">Data quality</a>
    <a href="#recommendations">Recommendations</a><a href="#models">Models</a><a href="#forecasts">Forecasts</a>
    <a href="#segments">Segments</a><a href="#quarantine">Quarantine</a>
    {% if dbt_docs %}<a href="dbt-docs/index.html" id="dbt-docs-link">dbt docs</a>{% endif %}
  </nav>
</header>

{% if error %}
  <div class="notice" id="warehouse-unavailable" role="alert">
    <strong>{% if error.retry %}Warehouse busy, retry.{% else %}Warehouse unavailable.{% endif %}</strong>
    {{ error.message }}
    {% if error.retry %}<a href="">Retry</a>{% endif %}
  </div>
{% elif not ov.as_of %}
  <div class="notice" id="no-runs">The warehouse has no run results yet: run the pipeline first.</div>
{% endif %}

<section id="pipeline">
<h2>Pipeline</h2>
{% if airflow_error %}<p class="muted small">Airflow run history unavailable: {{ airflow_error }}</p>
{% elif dag_runs %}
<h3>Latest runs of {{ dag_id }}</h3>
<table id="dag-runs">
<tr><th>logical date</th><th>run</th><th>type</th><th>state</th><th>started</th><th>ended</th></tr>
{% for r in dag_runs %}<tr><td>{{ r.logical_date | day }}</td><td class="small">{{ r.run_id }}</td><td>{{ r.run_type }}</td>
<td class="{{ r.state }}">{{ r.state or "–" }}</td><td>{{ r.start_date | day }}</td><td>{{ r.end_date | day }}</td></tr>{% endfor %}
</table>
{% if stage_states %}
<h3>Stages of the latest run</h3>
<table id="stage-states"><tr><th>stage (task group)</th><th class="num">tasks</th><th>states</th></tr>
{% for s in stage_states %}<tr><td>{{ s.stage }}</td><td class="num">{{ s.tasks }}</td>
<td>{% for state, n in s.states.items() %}<span class="{{ state }}">{{ state }}</span> {{ n }}{% if not loop.last %}, {% endif %}{% endfor %}</td></tr>{% endfor %}
</table>
{% endif %}
{% else %}<p class="muted small">No runs of {{ dag_id }} recorded in Airflow yet.</p>{% endif %}

{% if ov and not ov.stages.empty %}
<h3>Latest output per stage (warehouse)</h3>
<table id="stages">
<tr><th>stage</th><th>table</th><th>latest as-of</th><th class="num">rows then</th><th>model version</th><th>metrics vs baseline</th></tr>
{% for s in ov.stages | records %}<tr><td>{{ s.stage }}</td><td>{{ s.table }}</td><td>{{ s.latest_as_of | day }}</td><td class="num">{{ s.rows | int_ }}</td>
<td>{{ s.model_version or "" }}</td>
<td>{% if s.metrics_passed is not none %}<span class="pass">{{ s.metrics_passed | int_ }} pass</span>{% if s.metrics_failed %}, <span class="fail">{{ s.metrics_failed | int_ }} fail</span>{% endif %}{% endif %}</td></tr>{% endfor %}
</table>
{% endif %}
</section>

{% if ov and ov.as_of %}
<section id="published">
<h2>Published tables</h2>
<table id="published-counts"><tr><th>table</th><th class="num">rows</th><th>counted over</th></tr>
{% for r in ov.published | records %}<tr><td>{{ r.table }}</td><td class="num">{{ r.rows | int_ }}</td><td class="muted small">{{ r.scope }}</td></tr>{% endfor %}
</table>
</section>

<section id="quality">
<h2>Data quality</h2>
{% if ov.dq.empty %}<p class="muted">No data-quality results for {{ ov.as_of | day }}.</p>{% else %}
<table id="dq-summary"><tr><th>severity</th><th class="num">checks</th><th class="num">passed</th><th class="num">failed</th><th class="num">no verdict</th></tr>
{% for r in ov.dq | records %}<tr><td>{{ r.severity }}</td><td class="num">{{ r.checks | int_ }}</td><td class="num pass">{{ r.passed | int_ }}</td>
<td class="num{% if r.failed %} fail{% endif %}">{{ r.failed | int_ }}</td><td class="num">{{ r.skipped | int_ }}</td></tr>{% endfor %}
</table>
{% if not ov.dq_failed.empty %}
<h3>Failed checks</h3>
<table id="dq-failures"><tr><th>severity</th><th>table</th><th>expectation</th><th class="num">bad rows</th></tr>
{% for r in ov.dq_failed | records %}<tr><td class="{{ 'fail' if r.severity == 'critical' else 'warn' }}">{{ r.severity }}</td><td>{{ r.table }}</td><td>{{ r.expectation }}</td><td class="num">{{ r.unexpected_count | int_ }}</td></tr>{% endfor %}
</table>
{% endif %}{% endif %}
<p>{% if data_docs %}<a id="data-docs-link" href="data-docs/{{ data_docs }}">Data Docs for {{ ov.as_of | day }}</a>{% else %}<span class="muted">No Data Docs built for {{ ov.as_of | day }}.</span>{% endif %}
{% if data_docs_days %} · <a href="data-docs/">all days ({{ data_docs_days|length }})</a>{% endif %}</p>
</section>

<section id="recommendations">
<h2>Recommendations against baselines</h2>
{% if recs %}
<p class="muted small">Run of {{ recs[0].run_as_of | day }}, model {{ recs[0].model_version }}; baseline: the best simple recommender on the same holdout.</p>
<table id="recommendation-metrics"><tr><th>metric</th><th class="num">model</th><th class="num">baseline</th><th class="num">lift</th><th>verdict</th></tr>
{% for m in recs %}<tr><td>{{ m.metric }}</td><td class="num">{{ m.value | metric }}</td><td class="num">{{ m.baseline_value | metric }}</td>
<td class="num">{{ m.lift | lift }}</td><td class="{{ m.passed | verdict }}">{{ m.passed | verdict }}</td></tr>{% endfor %}
</table>
{% else %}<p class="muted">No recommendation run on or before {{ ov.as_of | day }}.</p>{% endif %}
</section>

<section id="models">
<h2>Other models against baselines</h2>
{% for model, rows in other_models %}
<h3>{{ model }} <span class="muted small">run of {{ rows[0].run_as_of | day }} · {{ rows | map(attribute='model_version') | unique | join(', ') }}</span></h3>
<table class="model-metrics" data-model="{{ model }}"><tr><th>metric</th><th class="num">value</th><th class="num">baseline</th><th>verdict</th></tr>
{% for m in rows %}<tr><td>{{ m.metric }}</td><td class="num">{{ m.value | metric }}</td><td class="num">{{ m.baseline_value | metric }}</td><td class="{{ m.passed | verdict }}">{{ m.passed | verdict }}</td></tr>{% endfor %}
</table>
{% else %}<p class="muted">No other model runs on or before {{ ov.as_of | day }}.</p>{% endfor %}
</section>

<section id="forecasts">
<h2>Forecasts</h2>
{% if not ov.forecasts.empty %}
<table id="forecast-series"><tr><th>series</th><th>measure</th><th>run</th><th>horizon</th><th>model</th></tr>
{% for f in ov.forecasts | records %}<tr><td>{{ f.series }}</td><td>{{ f.metric or "" }}</td><td>{{ f.run_as_of | day }}</td><td>{{ f.first_ds | day }} … {{ f.last_ds | day }} ({{ f.days }} days)</td><td>{{ f.model_version }}</td></tr>{% endfor %}
</table>
{% endif %}
{% if charts.files %}
<p class="muted small">Charts of the forecast run of {{ charts.day | day }}.</p>
<div class="grid" id="forecast-charts">{% for f in charts.files %}<figure><img src="charts/{{ f }}" alt="forecast {{ f | chart_title }}" loading="lazy"><figcaption>{{ f | chart_title }}</figcaption></figure>{% endfor %}</div>
{% else %}<p class="muted" id="no-charts">No forecast charts on or before {{ ov.as_of | day }}.</p>{% endif %}
</section>

<section id="segments">
<h2>Segment sizes over time</h2>
{% if seg_chart %}
<svg id="segment-chart" width="{{ seg_chart.width }}" height="{{ seg_chart.height }}" role="img" aria-label="customers per segment by as-of day">
  <line x1="{{ seg_chart.left }}" y1="{{ seg_chart.plot_h }}" x2="{{ seg_chart.width }}" y2="{{ seg_chart.plot_h }}" stroke="currentColor" stroke-width="0.5"/>
  <text x="{{ seg_chart.left - 6 }}" y="14" text-anchor="end" font-size="11" fill="currentColor">{{ seg_chart.top | int_ }}</text>
  <text x="{{ seg_chart.left - 6 }}" y="{{ seg_chart.plot_h }}" text-anchor="end" font-size="11" fill="currentColor">0</text>
  {% for b in seg_chart.bars %}<rect x="{{ b.x }}" y="{{ b.y }}" width="{{ b.w }}" height="{{ b.h }}" fill="{{ b.fill }}"><title>{{ b.title }}</title></rect>{% endfor %}
  {% for t in seg_chart.ticks %}<text x="{{ t.x }}" y="{{ seg_chart.plot_h + 16 }}" text-anchor="middle" font-size="11" fill="currentColor">{{ t.label }}</text>{% endfor %}
</svg>
<div class="legend">{% for l in seg_chart.legend %}<span><i style="background: {{ l.fill }}"></i>{{ l.name }}</span>{% endfor %}</div>
<table id="segment-sizes"><tr><th>as-of</th>{% for s in seg_table.segments %}<th class="num">{{ s }}</th>{% endfor %}<th class="num">customers</th></tr>
{% for r in seg_table.rows %}<tr><td>{{ r.day }}</td>{% for n in r.counts %}<td class="num">{{ n | int_ }}</td>{% endfor %}<td class="num">{{ r.total | int_ }}</td></tr>{% endfor %}
</table>
{% else %}<p class="muted">No segmentation runs on or before {{ ov.as_of | day }}.</p>{% endif %}
</section>

<section id="quarantine">
<h2>Quarantine</h2>
{% if ov.quarantine.empty %}<p class="muted">No quarantined rows up to {{ ov.as_of | day }}.</p>{% else %}
<table id="quarantine-summary"><tr><th>source</th><th>reason</th><th class="num">rows on {{ ov.as_of | day }}</th><th class="num">rows up to then</th></tr>
{% for r in ov.quarantine | records %}<tr><td>{{ r.source }}</td><td>{{ r.reason }}</td><td class="num">{{ r.rows_as_of | int_ }}</td><td class="num">{{ r.rows_total | int_ }}</td></tr>{% endfor %}
</table>
<p class="muted small">Counts only: quarantined rows themselves stay in the warehouse (main.quarantine) for data engineers.</p>
{% endif %}
</section>
{% endif %}

<footer class="muted small"><p>Read-only view of {{ warehouse_name }}; figures are the warehouse's at page load.</p></footer>
</body>
</html>
"""

DOCS_INDEX = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Data Docs by day</title>
<style>body { font: 14px/1.45 system-ui, sans-serif; margin: 16px 24px; }</style></head>
<body><p><a href="../">← Customer Experience</a></p><h1>Data Docs by as-of day</h1>
{% if days %}<ul id="data-docs-days">{% for d in days %}<li><a href="{{ d | day }}/index.html">{{ d | day }}</a></li>{% endfor %}</ul>
{% else %}<p>No Data Docs have been built yet.</p>{% endif %}
</body></html>
"""


def environment() -> Environment:
    env = Environment(loader=DictLoader({"page.html": PAGE, "docs_index.html": DOCS_INDEX}),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters.update(int_=fmt_int, metric=fmt_metric, lift=fmt_lift, day=fmt_day, verdict=verdict,
                       records=records, chart_title=chart_title)
    return env


_ENV = environment()


def render_page(
    overview: Overview | None,
    error: Unavailable | None,
    *,
    charts: Charts,
    data_docs: str | None,
    data_docs_days: list[date],
    dbt_docs: bool,
    dag_runs: list[dict[str, Any]],
    stage_states: list[dict[str, Any]],
    airflow_error: str | None,
    warehouse_name: str,
    dag_id: str,
) -> str:
    metrics = records(overview.metrics) if overview is not None else []
    recs = [m for m in metrics if m["model"] == "recommendations"]
    others: dict[str, list[dict[str, Any]]] = {}
    for m in metrics:
        if m["model"] != "recommendations":
            others.setdefault(m["model"], []).append(m)
    segments = overview.segments if overview is not None else None
    return _ENV.get_template("page.html").render(
        ov=overview, error=error, charts=charts, data_docs=data_docs, data_docs_days=data_docs_days,
        dbt_docs=dbt_docs, dag_runs=dag_runs, stage_states=stage_states, airflow_error=airflow_error,
        recs=recs, other_models=list(others.items()), seg_chart=segment_chart(segments),
        seg_table=segment_table(segments), warehouse_name=warehouse_name, dag_id=dag_id,
    )


def render_docs_index(days: list[date]) -> str:
    return _ENV.get_template("docs_index.html").render(days=days)
