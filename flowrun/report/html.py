"""``--html FILE``: one self-contained page (inline CSS and SVG, no script, no network).

A header (workflow, run id, verdict, counts), a Gantt timeline of every attempt of
every step with the critical path marked (``timeline.py``), a table of steps, the
parameters and outputs, and the log tails of the steps that failed, timed out or
were cancelled. All text is HTML-escaped.
A service's bar has two parts: *starting* (hatched, from its start to ready) and
*ready* (solid, from ready to its end); the table gives its time to ready.
"""

from __future__ import annotations

from flowrun.events import StepStatus
from flowrun.report.jsonreport import iso_utc
from flowrun.report.record import RunRecord, RunRecorder, StepRecord
from flowrun.report.summary import TAIL_LINES, log_tail
from flowrun.report.timeline import CRIT as _CRIT
from flowrun.report.timeline import clock as _clock
from flowrun.report.timeline import escape as _e
from flowrun.report.timeline import label as _label
from flowrun.report.timeline import svg as _svg
from flowrun.report.timeline import took as _took

__all__ = ["HtmlReport", "render_html"]

_FAILED = (StepStatus.FAILED, StepStatus.TIMED_OUT, StepStatus.CANCELLED)


def _ready_note(step: StepRecord) -> str:
    return "never ready" if step.ready_after is None else f"ready after {_clock(step.ready_after)}"


def _reason(step: StepRecord) -> str:
    """The step's reason, unless it only repeats its exit code or status."""
    same = (f"exit code {step.exit_code}", step.status.value, step.status.value.replace("_", " "))
    return "" if step.reason in same else step.reason


def _exit(step: StepRecord) -> str:
    """`` (exit 3)`` and the reason, if it says more."""
    text = "" if step.exit_code is None else f" (exit {step.exit_code})"
    return text + (f" — {_reason(step)}" if _reason(step) else "")


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


def _values(record: RunRecord) -> str:
    """The parameters of the run and the outputs its steps set (SPEC §9), masked like all output."""
    parts = []
    if record.params:
        rows = "".join(f'<tr><td class="name">{_e(k)}</td><td><code>{_e(v)}</code></td></tr>'
                       for k, v in record.params.items())
        parts.append(f'<h3>Parameters</h3><table class="values params"><tbody>{rows}</tbody></table>')
    rows = "".join(f'<tr><td class="name">{_e(step.name)}</td><td>{_e(k)}</td><td><code>{_e(v)}</code></td></tr>'
                   for step in record.steps.values() for k, v in step.outputs.items())
    if rows:
        parts.append('<h3>Outputs</h3><table class="values outputs"><thead><tr><th>Step</th><th>Output</th>'
                     f'<th>Value</th></tr></thead><tbody>{rows}</tbody></table>')
    return '<section class="card"><h2>Values</h2>' + "".join(parts) + "</section>" if parts else ""


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
{_values(record)}
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
.values td{padding:3px 10px 3px 0;vertical-align:top}.values code{white-space:pre-wrap;word-break:break-all}
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
