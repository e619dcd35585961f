"""A cluster's status page: one self-contained HTML file (no script, no fetch from elsewhere) the
workflow writes to the artifacts bucket after every execution. Charts are inline SVG drawn here:
the timeline of the last execution (a bar per step on a time axis, retries and the failing step
marked), nodes Ready over time per node group (a point per readiness poll), and the last
executions (a bar per execution, so a slower create stands out). It reads on a phone (the SVGs
scale to the width, the tables scroll inside their box) and prints.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

# The drawing area of every chart (viewBox units; the SVG scales to the page's width).
WIDTH = 1000
LABEL = 250  # the timeline's label column
ROW = 24
COLORS = {"SUCCEEDED": "#2e7d32", "FAILED": "#c62828", "RETRIED": "#ef8f00", "RUNNING": "#1565c0"}
SERIES = ("#1565c0", "#6a1b9a", "#00838f", "#ad1457", "#558b2f", "#4e342e")


@dataclass(frozen=True)
class Span:
    """One step of the execution: when it started (seconds after the execution), how long it
    took, its outcome, and how often its task was retried."""

    name: str
    start: float
    seconds: float
    status: str
    retries: int = 0
    waits: int = 0  # attempts that were an expected wait (an access entry propagating), not faults


@dataclass(frozen=True)
class Poll:
    """One readiness poll: seconds after the execution started, a node group's Ready nodes."""

    at: float
    group: str
    ready: int
    expected: int


@dataclass(frozen=True)
class Run:
    """One past execution, as the page's history keeps it."""

    name: str
    action: str
    outcome: str
    seconds: float
    started: str
    code: str = ""


@dataclass
class Page:
    cluster: str
    region: str
    action: str
    outcome: str
    execution: str
    started: str  # ISO 8601, UTC
    generated: str
    kubernetes_version: str | None = None
    endpoint: str | None = None
    cni: str = ""
    code: str = ""
    todo: str = ""
    failed_step: str = ""
    cause: str = ""
    nodes: dict[str, dict[str, int]] = field(default_factory=dict)
    spans: list[Span] = field(default_factory=list)
    polls: list[Poll] = field(default_factory=list)
    validation: str | None = None
    changes: list[str] = field(default_factory=list)
    history: list[Run] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, href or "" for plain text)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _tick(total: float) -> float:
    """A round interval giving about five to ten ticks over `total` seconds."""
    raw = max(total, 1.0) / 6
    power = 10 ** math.floor(math.log10(raw))
    return float(next(step * power for step in (1, 2, 5, 10) if step * power >= raw))


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes < 90 else f"{minutes // 60} h {minutes % 60:02d} min"


def timeline(spans: list[Span]) -> str:
    """A bar per step, placed at its start on a common time axis, its width its duration."""
    if not spans:
        return "<p>No steps recorded.</p>"
    total = max(s.start + s.seconds for s in spans) or 1.0
    scale = (WIDTH - LABEL - 10) / total
    height = len(spans) * ROW + 30
    parts = [
        (
            f'<svg class="timeline" viewBox="0 0 {WIDTH} {height}" role="img" '
            f'aria-label="Timeline of the execution: {len(spans)} steps over {_duration(total)}">'
        )
    ]
    step = _tick(total)
    t = 0.0
    while t <= total + 1e-9:
        x = LABEL + t * scale
        parts.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 22}" class="grid"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 6}" class="axis">{_e(_duration(t))}</text>')
        t += step
    for i, span in enumerate(spans):
        y = i * ROW + 4
        status = "RETRIED" if span.retries and span.status == "SUCCEEDED" else span.status
        label = span.name + (f" ({span.retries} retr{'y' if span.retries == 1 else 'ies'})" if span.retries else "")
        label += " (waited for access)" if span.waits and not span.retries else ""
        parts.append(f'<text x="{LABEL - 8}" y="{y + 15}" class="label">{_e(label)}</text>')
        x, width, fill = LABEL + span.start * scale, max(span.seconds * scale, 1.5), COLORS.get(status, "#555")
        parts.append(
            f'<rect class="step {status.lower()}" data-step="{_e(span.name)}" data-seconds="{span.seconds:.3f}" '
            f'x="{x:.2f}" y="{y}" '
            f'width="{width:.2f}" height="{ROW - 6}" fill="{fill}">'
            f"<title>{_e(span.name)}: {_e(span.status)}, {_e(_duration(span.seconds))}</title></rect>"
        )
    parts.append("</svg>")
    return "".join(parts)


def nodes_chart(polls: list[Poll]) -> str:
    """Ready nodes per node group over time: a line and a point per poll."""
    if not polls:
        return "<p>No readiness polls in this execution (no node was waited for).</p>"
    groups = sorted({p.group for p in polls})
    start = min(p.at for p in polls)
    span = (max(p.at for p in polls) - start) or 1.0
    top = max(max(p.expected, p.ready) for p in polls) or 1
    left, height, bottom = 50, 240, 30
    sx = (WIDTH - left - 20) / span
    sy = (height - bottom - 10) / top
    parts = [
        (
            f'<svg class="nodes" viewBox="0 0 {WIDTH} {height}" role="img" '
            f'aria-label="Nodes Ready over time for {len(groups)} node group(s)">'
        )
    ]
    for n in range(0, top + 1, max(1, top // 5)):
        y = height - bottom - n * sy
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{WIDTH - 10}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" class="label">{n}</text>')
    # The time axis is the execution's: the first poll comes minutes after the start on AWS.
    parts.append(f'<text x="{left}" y="{height - 8}" class="axis">{_e(_duration(start))}</text>')
    parts.append(f'<text x="{WIDTH - 10}" y="{height - 8}" class="axis end">{_e(_duration(start + span))}</text>')
    for i, group in enumerate(groups):
        color = SERIES[i % len(SERIES)]
        mine = [p for p in polls if p.group == group]
        points = " ".join(f"{left + (p.at - start) * sx:.1f},{height - bottom - p.ready * sy:.1f}" for p in mine)
        parts.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"/>')
        for p in mine:
            x, y = left + (p.at - start) * sx, height - bottom - p.ready * sy
            parts.append(
                f'<circle class="poll" data-group="{_e(group)}" cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{color}">'
                f"<title>{_e(group)}: {p.ready}/{p.expected} Ready at {_e(_duration(p.at))}</title></circle>"
            )
    parts.append("</svg>")
    legend = "".join(
        f'<span class="key"><i style="background:{SERIES[i % len(SERIES)]}"></i>{_e(g)}</span>'
        for i, g in enumerate(groups)
    )
    return "".join(parts) + f'<p class="legend">{legend}</p>'


def history_chart(runs: list[Run]) -> str:
    """The last executions, newest first: a bar per execution, its width its duration."""
    if not runs:
        return "<p>No earlier executions.</p>"
    longest = max(r.seconds for r in runs) or 1.0
    scale = (WIDTH - LABEL - 120) / longest
    height = len(runs) * ROW + 6
    parts = [f'<svg class="history" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="The last executions">']
    for i, run in enumerate(runs):
        y = i * ROW + 4
        label = f"{run.started[:16].replace('T', ' ')} {run.action}"
        parts.append(f'<text x="{LABEL - 8}" y="{y + 15}" class="label">{_e(label)}</text>')
        parts.append(
            f'<rect class="run {run.outcome.lower()}" data-seconds="{run.seconds:.3f}" x="{LABEL}" y="{y}" '
            f'width="{max(run.seconds * scale, 1.5):.2f}" height="{ROW - 6}" fill="{COLORS.get(run.outcome, "#555")}">'
            f"<title>{_e(run.name)}: {_e(run.outcome)} {_e(run.code)}</title></rect>"
        )
        note = _duration(run.seconds) + (f" {run.code}" if run.code else "")
        parts.append(f'<text x="{LABEL + run.seconds * scale + 6:.1f}" y="{y + 15}" class="axis">{_e(note)}</text>')
    parts.append("</svg>")
    return "".join(parts)


_STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;padding:12px;max-width:1100px;
color:#1b1b1b;overflow-wrap:anywhere}
h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.1em;margin:1.2em 0 .4em;border-bottom:1px solid #ddd}
.outcome{display:inline-block;padding:.1em .6em;border-radius:4px;color:#fff;font-weight:600;background:#546e7a}
.succeeded,.active{background:#2e7d32}.failed,.create_failed{background:#c62828}.planned,.skipped{background:#546e7a}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em;margin:.5em 0}dt{font-weight:600}dd{margin:0}
svg{width:100%;height:auto;display:block}svg text{font-size:13px;fill:#333}
svg .label{text-anchor:end}svg .axis{fill:#666;font-size:12px}svg .axis.end{text-anchor:end}
svg .grid{stroke:#e3e3e3}svg rect.step.failed,svg rect.run.failed{stroke:#000;stroke-width:1}
.legend .key{margin-right:1em;white-space:nowrap}
.legend i{display:inline-block;width:.8em;height:.8em;margin-right:.3em}
.scroll{overflow-x:auto;max-width:100%}pre{margin:0;font-size:13px;white-space:pre}
.cause{background:#fdecea;border-left:4px solid #c62828;padding:.5em .8em;white-space:pre-wrap}
table{border-collapse:collapse}td,th{padding:.1em .6em .1em 0;text-align:left;vertical-align:top}
tr.failed td{color:#c62828;font-weight:600}details.steps{margin:.4em 0}
@media print{details.steps>*{display:block}body{max-width:none}a{color:inherit}.scroll{overflow:visible}
pre{white-space:pre-wrap}}
"""


def _steps_table(spans: list[Span]) -> str:
    """The timeline's steps as text too: readable at a phone's width, where the chart's labels
    shrink, and by a screen reader."""
    rows = "".join(
        f'<tr class="{_e(s.status.lower())}"><td>{_e(s.name)}</td><td>{_e(_duration(s.start))}</td>'
        f"<td>{_e(_duration(s.seconds))}</td><td>{_e(s.status.lower())}"
        + (f", {s.retries} retried" if s.retries else "")
        + (", waited for access" if s.waits else "")
        + "</td></tr>"
        for s in spans
    )
    return (
        '<details class="steps"><summary>Each step</summary><div class="scroll"><table><thead><tr><th>Step</th>'
        f"<th>Started at</th><th>Took</th><th>Outcome</th></tr></thead><tbody>{rows}</tbody></table></div></details>"
    )


def render(page: Page) -> str:
    """The page, whole: every value escaped, nothing loaded from elsewhere."""
    ready = ", ".join(f"{g} {n.get('ready', 0)}/{n.get('desired', 0)}" for g, n in sorted(page.nodes.items()))
    facts = [
        ("Region", page.region),
        ("Action", page.action),
        ("Execution", page.execution),
        ("Started", page.started.replace("T", " ") + " UTC"),
        ("Kubernetes", page.kubernetes_version or "—"),
        ("CNI", page.cni or "—"),
        ("Endpoint", page.endpoint or "—"),
        ("Nodes Ready", ready or "—"),
    ]
    body = [
        f'<h1>{_e(page.cluster)} <span class="outcome {_e(page.outcome.lower())}">{_e(page.outcome)}</span></h1>',
        "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts) + "</dl>",
    ]
    if page.code:
        body.append(
            f"<h2>Failure: {_e(page.code)}</h2><p>{_e(page.todo)}</p>"
            f"<p>Failed step: <strong>{_e(page.failed_step)}</strong></p>"
            f'<div class="cause">{_e(page.cause)}</div>'
        )
    total = max((s.start + s.seconds for s in page.spans), default=0.0)
    body += [
        f"<h2>Timeline ({_e(_duration(total))})</h2>",
        timeline(page.spans),
        _steps_table(page.spans),
        "<h2>Nodes Ready over time</h2>",
        nodes_chart(page.polls),
    ]
    if page.validation:
        rows = [line.split(None, 3) for line in page.validation.splitlines() if line.strip()]
        head, *rest = rows
        table = "<table><thead><tr>" + "".join(f"<th>{_e(c)}</th>" for c in head) + "</tr></thead><tbody>"
        table += "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rest)
        body += ["<h2>Validation</h2>", f'<div class="scroll">{table}</tbody></table></div>']
    if page.changes:
        body += ["<h2>Changes</h2>", f'<div class="scroll"><pre>{_e(chr(10).join(page.changes))}</pre></div>']
    body += ["<h2>Last executions</h2>", history_chart(page.history)]
    if page.links:
        items = "".join(f'<li><a href="{_e(h)}">{_e(t)}</a></li>' if h else f"<li>{_e(t)}</li>" for t, h in page.links)
        body.append(f"<h2>Links</h2><ul>{items}</ul>")
    body.append(f"<p><small>Written {_e(page.generated.replace('T', ' '))} UTC by clusterdrop.</small></p>")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(page.cluster)}: {_e(page.action)} {_e(page.outcome.lower())}</title>"
        f"<style>{_STYLE}</style></head><body>" + "".join(body) + "</body></html>\n"
    )


@dataclass(frozen=True)
class FleetRow:
    """One cluster on the fleet page, as the registry holds it."""

    cluster: str
    status: str
    kubernetes_version: str
    nodes: str  # "ready/expected"
    last_execution: str
    updated: str
    last_failure: str
    support: str


def fleet(rows: list[FleetRow], generated: str) -> str:
    """Every cluster of the deployer on one page (`status/index.html`), each linking to its own."""
    head = ("Cluster", "Status", "Kubernetes", "Nodes", "Last execution", "Updated", "Last failure", "Support")
    table = "<table><thead><tr>" + "".join(f"<th>{_e(c)}</th>" for c in head) + "</tr></thead><tbody>"
    for row in rows:
        cells = [
            f'<a href="{_e(row.cluster)}/index.html">{_e(row.cluster)}</a>',
            f'<span class="outcome {_e(row.status.lower())}">{_e(row.status)}</span>',
            *(
                _e(v or "—")
                for v in (
                    row.kubernetes_version,
                    row.nodes,
                    row.last_execution,
                    row.updated,
                    row.last_failure,
                    row.support,
                )
            ),
        ]
        table += '<tr class="cluster">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
    body = [
        f"<h1>Clusters <small>({len(rows)})</small></h1>",
        f'<div class="scroll">{table}</tbody></table></div>' if rows else "<p>No clusters yet.</p>",
        f"<p><small>Written {_e(generated.replace('T', ' '))} UTC by clusterdrop.</small></p>",
    ]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>clusterdrop: {len(rows)} clusters</title>"
        f"<style>{_STYLE}</style></head><body>" + "".join(body) + "</body></html>\n"
    )
