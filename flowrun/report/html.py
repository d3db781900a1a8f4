"""``--html FILE``: one self-contained page (inline CSS and SVG, no script, no network).

A header (workflow, run id, verdict, counts), a Gantt timeline of every attempt of
every step with the critical path marked, a table of steps, and the log tails of
the steps that failed, timed out or were cancelled. All text is HTML-escaped.
A service's bar has two parts: *starting* (hatched, from its start to ready) and
*ready* (solid, from ready to its end); the table gives its time to ready.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Callable

from flowrun.events import StepStatus
from flowrun.report.jsonreport import clean_text, iso_utc
from flowrun.report.record import AttemptRecord, RunRecord, RunRecorder, StepRecord, release_time
from flowrun.report.summary import TAIL_LINES, log_tail

__all__ = ["HtmlReport", "render_html"]

_FAILED = (StepStatus.FAILED, StepStatus.TIMED_OUT, StepStatus.CANCELLED)
_TICKS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600,
          900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
#: timeline geometry in SVG units: width, bars from _X0 to _X1, axis height, row height
_W, _X0, _X1, _AXIS, _ROW = 1000, 262, 930, 30, 26
_CRIT = '<span class="crit-tag">◆ critical path</span>'


def _e(text: object) -> str:
    return html.escape(clean_text(str(text)), quote=True)


def _clock(seconds: float) -> str:
    if seconds == 0:
        return "0"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s" if secs else f"{minutes}m"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def _ready_note(step: StepRecord) -> str:
    return "never ready" if step.ready_after is None else f"ready after {_clock(step.ready_after)}"


def _took(step: StepRecord) -> str:
    return "–" if step.duration is None else _clock(step.duration)


def _label(step: StepRecord) -> str:
    return step.status.value.replace("_", " ") + (" (allowed)" if step.allowed_failure else "")


def _reason(step: StepRecord) -> str:
    """The step's reason, unless it only repeats its exit code or status."""
    same = (f"exit code {step.exit_code}", step.status.value, step.status.value.replace("_", " "))
    return "" if step.reason in same else step.reason


def _exit(step: StepRecord) -> str:
    """`` (exit 3)`` and the reason, if it says more."""
    text = "" if step.exit_code is None else f" (exit {step.exit_code})"
    return text + (f" — {_reason(step)}" if _reason(step) else "")


def _svg(record: RunRecord) -> str:
    steps, chain = list(record.steps.values()), record.critical_path
    span = max(record.duration, 0.001)
    scale = (_X1 - _X0) / span

    def x(t: float) -> float:
        return _X0 + max(0.0, t - record.started) * scale

    height = _AXIS + len(steps) * _ROW + 6
    out = [f'<svg class="gantt" viewBox="0 0 {_W} {height}" width="100%" role="img" '
           f'aria-label="timeline of {len(steps)} steps" xmlns="http://www.w3.org/2000/svg">',
           '<defs><pattern id="allowed" width="6" height="6" patternUnits="userSpaceOnUse" '
           'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffcecb"/>'
           '<rect width="3" height="6" fill="#cf222e"/></pattern><pattern id="starting" width="6" height="6" '
           'patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="3" height="6" fill="#fff" '
           'fill-opacity=".6"/></pattern></defs>']
    out += [f'<rect class="zebra" x="0" y="{_AXIS + i * _ROW}" width="{_W}" height="{_ROW}"/>'
            for i in range(1, len(steps), 2)]
    tick = next((t for t in _TICKS if t >= span / 8), _TICKS[-1])
    for k in range(int(span / tick + 1e-9) + 1):
        tx = _X0 + k * tick * scale
        out.append(f'<line class="grid" x1="{tx:.1f}" y1="{_AXIS - 6}" x2="{tx:.1f}" y2="{height - 4}"/>'
                   f'<text class="tick" x="{tx:.1f}" y="{_AXIS - 11}">{_clock(k * tick)}</text>')
    row = {s.name: _AXIS + i * _ROW for i, s in enumerate(steps)}
    tolerance = max(0.05, 0.01 * record.duration)
    for a, b in itertools.pairwise(chain):  # the critical path's hand-overs
        sa, sb = record.steps[a], record.steps[b]
        x1, x2 = x(release_time(sa, sb, tolerance)), x(sb.started or 0)
        out.append(f'<path class="crit-link" d="M{x1:.1f},{row[a] + 13} V{row[b] + 13} H{x2:.1f}"/>')
    out += [_svg_row(step, row[step.name], x, step.name in chain) for step in steps]
    return "\n".join([*out, "</svg>"])


def _svg_row(step: StepRecord, y: float, x: Callable[[float], float], critical: bool) -> str:
    name = step.name if len(step.name) <= 30 else step.name[:29] + "…"
    crit = (" crit", ' data-critical="true"') if critical else ("", "")
    parts = [f'<g class="gantt-row s-{step.status.value}{crit[0]}" data-step="{_e(step.name)}"{crit[1]}>',
             f'<title>{_e(step.name)}: {_e(_label(step))}, {_took(step)}</title>']
    if critical:
        parts.append(f'<path class="crit-mark" d="M10,{y + 8} l5,5 l-5,5 l-5,-5 z"/>')
    parts.append(f'<text class="label" x="22" y="{y + 17}">{_e(name)}</text>')
    if not step.history:  # never ran: an empty row that says why
        why = step.reason or step.status.value
        parts.append(f'<text class="note" x="{_X0 + 6}" y="{y + 17}">{_e(_label(step))} — {_e(why)}</text>')
        return "".join(parts) + "</g>"
    end = _X0
    for n, attempt in enumerate(step.history, 1):
        ended = attempt.ended if attempt.ended is not None else attempt.started
        x1, x2 = x(attempt.started), x(ended)
        last = n == len(step.history)
        status = (step.status if last else attempt.status or step.status).value
        kind = ("" if last else " retried") + (" allowed" if last and step.allowed_failure else "")
        code = "" if attempt.exit_code is None else f" (exit {attempt.exit_code})"
        title = (f"{_e(step.name)} attempt {n}/{len(step.history)}: {_e(status)}{code}, "
                 f"{_clock(max(0.0, ended - attempt.started))}")
        if step.service:
            parts += _service_bars(f"bar s-{status}{kind}", title, attempt, ended, x, y)
        else:
            parts.append(f'<rect class="bar s-{status}{kind}" x="{x1:.1f}" y="{y + 5}" '
                         f'width="{max(2.0, x2 - x1):.1f}" height="16" rx="3"><title>{title}</title></rect>')
        end = max(x2, x1 + 2)
    text = _took(step) + (f" · {step.attempts} attempts" if step.attempts > 1 else "")
    if step.service and step.ready_after is not None:
        text += f" · ready {_clock(step.ready_after)}"
    if end + 8 + 7 * len(text) < _W:
        parts.append(f'<text class="dur" x="{end + 6:.1f}" y="{y + 17}">{text}</text>')
    else:
        parts.append(f'<text class="dur" x="{x(step.started or 0) - 6:.1f}" y="{y + 17}" '
                     f'text-anchor="end">{text}</text>')
    return "".join(parts) + "</g>"


def _service_bars(css: str, title: str, attempt: AttemptRecord, ended: float, x: Callable[[float], float],
                  y: float) -> list[str]:
    """A service attempt's bar: *starting* (lighter, hatched) until it was ready, then *ready* (solid)."""
    ready = attempt.ready_after
    x1, x2 = x(attempt.started), x(ended)
    xr = x2 if ready is None else min(max(x(attempt.started + ready), x1), x2)
    box = f'y="{y + 5}" height="16" rx="3"'
    bars = [f'<rect class="{css} starting" x="{x1:.1f}" width="{max(1.0, xr - x1):.1f}" {box}><title>{title}, '
            f'{"never ready" if ready is None else f"starting for {_clock(ready)}"}</title></rect>',
            f'<rect class="hatch" x="{x1:.1f}" width="{max(1.0, xr - x1):.1f}" {box}/>']
    if ready is not None:
        bars.append(f'<rect class="{css} ready" x="{xr:.1f}" width="{max(1.0, x2 - xr):.1f}" {box}>'
                    f'<title>{title}, ready after {_clock(ready)}</title></rect>')
    return bars


def _table(record: RunRecord) -> str:
    rows = []
    for i, step in enumerate(record.steps.values()):
        start = "–" if step.started is None else "+" + _clock(max(0.0, step.started - record.started))
        critical = step.name in record.critical_path
        marker = ' data-critical="true"' if critical else ""
        notes = ([_ready_note(step)] if step.service else []) + ([_e(_reason(step))] if _reason(step) else [])
        notes += [_CRIT] if critical else []
        if step.status in _FAILED:
            notes.append(f'<a href="#log-{i}">log tail ↓</a>')
        rows.append(
            f'<tr class="step-row s-{step.status.value}" data-step="{_e(step.name)}"'
            f'{marker}><td class="name">{_e(step.name)}</td>'
            f'<td><span class="pill s-{step.status.value}">{_e(_label(step))}</span></td>'
            f'<td class="num">{start}</td><td class="num">{_took(step)}</td>'
            f'<td class="num">{"" if step.exit_code is None else step.exit_code}</td>'
            f'<td class="num">{step.attempts or "–"}</td><td class="notes">{" · ".join(notes)}</td></tr>')
    return ('<table class="steps"><thead><tr><th>Step</th><th>Status</th><th class="num">Start</th>'
            '<th class="num">Duration</th><th class="num">Exit</th><th class="num">Attempts</th><th>Notes</th>'
            "</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>")


def _tails(record: RunRecord) -> str:
    blocks = []
    for i, step in enumerate(record.steps.values()):
        if step.status not in _FAILED:
            continue
        lines = log_tail(step.log, TAIL_LINES)
        body = _e("\n".join(lines)) if lines else '<span class="muted">(no output)</span>'
        where = f'<p class="logpath">last {len(lines)} lines of <code>{_e(step.log)}</code></p>' if step.log else ""
        blocks.append(f'<details id="log-{i}" class="tail" open><summary><span class="name">{_e(step.name)}</span> '
                      f'<span class="pill s-{step.status.value}">{_e(_label(step) + _exit(step))}</span></summary>'
                      f'{where}<pre>{body}</pre></details>')
    return '<section class="card"><h2>Failed steps</h2>' + "\n".join(blocks) + "</section>" if blocks else ""


def render_html(record: RunRecord) -> str:
    """The whole page for a finished run."""
    if record.interrupted_by:
        verdict = ("interrupted", f"Interrupted by {record.interrupted_by} · exit {record.exit_code}")
    else:
        verdict = ("passed", "Passed") if record.exit_code == 0 else ("failed", f"Failed · exit {record.exit_code}")
    counts = record.counts()
    allowed = {s: sum(1 for x in record.steps.values() if x.status.value == s and x.allowed_failure) for s in counts}
    chips = [f'<li class="chip">{len(record.steps)} steps</li>'] + [
        f'<li class="chip"><i class="dot s-{state}"></i>{n} {state.replace("_", " ")}'
        f'{f" ({allowed[state]} allowed)" if allowed[state] else ""}</li>' for state, n in counts.items() if n]
    meta = [("Run id", f"<code>{_e(record.run_id)}</code>"), ("Started (UTC)", _e(iso_utc(record.started))),
            ("Duration", _clock(record.duration)), ("Exit code", str(record.exit_code)),
            ("Jobs", str(record.jobs or "–"))]
    legend = "".join(f'<span><i class="dot s-{s}"></i>{s.replace("_", " ")}</span>' for s in counts)
    if any(s.service for s in record.steps.values()):
        legend += '<span><i class="dot starting"></i>service starting (then ready)</span>'
    chain = " → ".join(_e(n) for n in record.critical_path)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>flowrun · {_e(record.workflow)} · {_e(record.run_id)}</title>
<style>{_CSS}</style></head>
<body><main>
<header class="card"><div class="brand">flowrun run report</div>
<div class="headline"><h1>{_e(record.workflow)}</h1><span class="verdict {verdict[0]}">{_e(verdict[1])}</span></div>
{f'<p class="file"><code>{_e(record.file)}</code></p>' if record.file else ""}
<dl class="meta">{"".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in meta)}</dl>
<ul class="chips">{"".join(chips)}</ul></header>
<section class="card"><h2>Timeline</h2><div class="legend">{legend}
<span><i class="dot allowed"></i>allowed failure</span><span><i class="dot retried"></i>retried attempt</span>
{_CRIT}</div>
{_svg(record)}{f'<p class="critline">{_CRIT} {chain}</p>' if chain else ""}</section>
<section class="card"><h2>Steps</h2>{_table(record)}</section>
{_tails(record)}
<footer>Generated by flowrun · a self-contained page: no scripts, no network</footer>
</main></body></html>
"""


class HtmlReport(RunRecorder):
    """Writes the page when the run ends; pass ``dependencies`` to get the critical path."""

    kind = "HTML report"

    def render(self, record: RunRecord) -> str:
        return render_html(record)


_CSS = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#f6f8fa;--crit:#8250df;--success:#2da44e;--failed:#cf222e;
  --timed_out:#e16f24;--cancelled:#bf8700;--skipped:#afb8c1;--cached:#0969da;--pending:#d1d9e0}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);
  font:14px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI","Noto Sans",Helvetica,Arial,sans-serif}
main{max-width:1200px;margin:0 auto;padding:24px}
code,pre,.name,.label{font-family:ui-monospace,SFMono-Regular,"SF Mono",Menlo,Consolas,"Liberation Mono",monospace}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 20px;margin-bottom:16px}
h1{font-size:24px;margin:0} h2{font-size:16px;margin:0 0 12px}
.brand{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.08em}
.headline{display:flex;align-items:center;gap:12px;margin:4px 0 12px}
.file{margin:-8px 0 12px;color:var(--muted);font-size:12px}
.verdict{border-radius:999px;padding:2px 12px;font-weight:600;color:#fff}
.verdict.passed{background:var(--success)} .verdict.failed{background:var(--failed)}
.verdict.interrupted{background:var(--cancelled)}
.meta{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:8px 24px;margin:0 0 12px}
.meta dt{color:var(--muted);font-size:12px} .meta dd{margin:0;font-weight:600;overflow-wrap:anywhere}
.chips{display:flex;flex-wrap:wrap;gap:8px;list-style:none;margin:0;padding:0}
.chip{border:1px solid var(--line);border-radius:999px;padding:1px 10px;font-size:13px}
.legend{display:flex;flex-wrap:wrap;gap:14px;color:var(--muted);font-size:12px;margin-bottom:8px}
.dot{display:inline-block;width:10px;height:10px;border-radius:3px;margin-right:6px;vertical-align:-1px}
.s-success{--c:var(--success)} .s-failed{--c:var(--failed)} .s-timed_out{--c:var(--timed_out)}
.s-cancelled{--c:var(--cancelled)} .s-skipped{--c:var(--skipped)} .s-cached{--c:var(--cached)}
.s-pending,.s-running{--c:var(--pending)}
.dot{background:var(--c)} .bar{fill:var(--c)} .bar.retried{opacity:.4} .bar.allowed{fill:url(#allowed)}
.dot.allowed{background:repeating-linear-gradient(45deg,#cf222e 0 3px,#ffcecb 3px 6px)}
.dot.retried{background:var(--failed);opacity:.4}
.bar.starting{opacity:.5} .hatch{fill:url(#starting);pointer-events:none}
.dot.starting{background:repeating-linear-gradient(45deg,#2da44e 0 3px,#c7e9d0 3px 6px)}
.gantt{display:block;font-size:12px} .gantt .zebra{fill:#f6f8fa} .gantt .grid{stroke:#eaeef2}
.gantt .tick{fill:var(--muted);font-size:11px;text-anchor:middle} .gantt .label{fill:var(--fg)}
.gantt .s-skipped .label,.gantt .s-pending .label{fill:var(--muted)}
.gantt .note{fill:var(--muted);font-style:italic;font-size:11px} .gantt .dur{fill:var(--muted);font-size:11px}
.gantt .crit .bar{stroke:var(--crit);stroke-width:2} .gantt .crit .label{font-weight:700}
.crit-mark{fill:var(--crit)} .crit-link{fill:none;stroke:var(--crit);stroke-width:1.5;stroke-dasharray:3 3}
.crit-tag{color:var(--crit);font-weight:600} .critline{margin:8px 0 0;color:var(--muted);font-size:13px}
table.steps{border-collapse:collapse;width:100%}
.steps th{text-align:left;color:var(--muted);font-weight:600;font-size:12px;border-bottom:1px solid var(--line)}
.steps th,.steps td{padding:6px 8px} .steps td{border-bottom:1px solid #eaeef2;vertical-align:top}
.steps tr:hover td{background:#f6f8fa} .steps .num{text-align:right;font-variant-numeric:tabular-nums}
.notes{color:var(--muted)} .notes a{color:var(--cached)}
.pill{display:inline-block;border-radius:999px;padding:0 8px;font-size:12px;font-weight:600;white-space:nowrap}
.pill.s-success{background:#dafbe1;color:#116329} .pill.s-failed{background:#ffebe9;color:#a40e26}
.pill.s-timed_out{background:#fff1e5;color:#953800} .pill.s-cancelled{background:#fff8c5;color:#7d4e00}
.pill.s-skipped,.pill.s-pending{background:#eff2f5;color:var(--muted)} .pill.s-cached{background:#ddf4ff;color:#0550ae}
.tail{border:1px solid var(--line);border-radius:6px;margin-bottom:10px}
.tail summary{padding:8px 12px;cursor:pointer;background:#f6f8fa;border-radius:6px}
.tail .name{font-weight:600;margin-right:8px} .logpath{margin:8px 12px 0;color:var(--muted);font-size:12px}
.tail pre{margin:8px 12px 12px;padding:10px 12px;background:#1f2328;color:#e6edf3;border-radius:6px;overflow:auto;
  font-size:12px;line-height:1.45;max-height:420px}
.muted{color:#8c959f} footer{color:var(--muted);font-size:12px;text-align:center;padding:8px}
"""
