"""The HTML report's timeline: one SVG row per step, a bar per attempt, the critical path marked."""

from __future__ import annotations

import html
import itertools
from collections.abc import Callable

from flowrun.report.jsonreport import clean_text
from flowrun.report.record import AttemptRecord, RunRecord, StepRecord, release_time

__all__ = ["CRIT", "clock", "escape", "label", "svg", "took"]

_TICKS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600,
          900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
#: timeline geometry in SVG units: width, bars from _X0 to _X1, axis height, row height
_W, _X0, _X1, _AXIS, _ROW = 1000, 262, 930, 30, 26
CRIT = '<span class="crit-tag">◆ critical path</span>'


def escape(text: object) -> str:
    return html.escape(clean_text(str(text)), quote=True)


def took(step: StepRecord) -> str:
    return "–" if step.duration is None else clock(step.duration)


def label(step: StepRecord) -> str:
    return step.status.value.replace("_", " ") + (" (allowed)" if step.allowed_failure else "")


def clock(seconds: float) -> str:
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


def svg(record: RunRecord) -> str:
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
                   f'<text class="tick" x="{tx:.1f}" y="{_AXIS - 11}">{clock(k * tick)}</text>')
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
    parts = [f'<g class="gantt-row s-{step.status.value}{crit[0]}" data-step="{escape(step.name)}"{crit[1]}>',
             f'<title>{escape(step.name)}: {escape(label(step))}, {took(step)}</title>']
    if critical:
        parts.append(f'<path class="crit-mark" d="M10,{y + 8} l5,5 l-5,5 l-5,-5 z"/>')
    parts.append(f'<text class="label" x="22" y="{y + 17}">{escape(name)}</text>')
    if not step.history:  # never ran: an empty row that says why
        why = step.reason or step.status.value
        parts.append(f'<text class="note" x="{_X0 + 6}" y="{y + 17}">{escape(label(step))} — {escape(why)}</text>')
        return "".join(parts) + "</g>"
    end = _X0
    for n, attempt in enumerate(step.history, 1):
        ended = attempt.ended if attempt.ended is not None else attempt.started
        x1, x2 = x(attempt.started), x(ended)
        last = n == len(step.history)
        status = (step.status if last else attempt.status or step.status).value
        kind = ("" if last else " retried") + (" allowed" if last and step.allowed_failure else "")
        code = "" if attempt.exit_code is None else f" (exit {attempt.exit_code})"
        title = (f"{escape(step.name)} attempt {n}/{len(step.history)}: {escape(status)}{code}, "
                 f"{clock(max(0.0, ended - attempt.started))}")
        if step.service:
            parts += _service_bars(f"bar s-{status}{kind}", title, attempt, ended, x, y)
        else:
            parts.append(f'<rect class="bar s-{status}{kind}" x="{x1:.1f}" y="{y + 5}" '
                         f'width="{max(2.0, x2 - x1):.1f}" height="16" rx="3"><title>{title}</title></rect>')
        end = max(x2, x1 + 2)
    text = took(step) + (f" · {step.attempts} attempts" if step.attempts > 1 else "")
    if step.service and step.ready_after is not None:
        text += f" · ready {clock(step.ready_after)}"
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
            f'{"never ready" if ready is None else f"starting for {clock(ready)}"}</title></rect>',
            f'<rect class="hatch" x="{x1:.1f}" width="{max(1.0, xr - x1):.1f}" {box}/>']
    if ready is not None:
        bars.append(f'<rect class="{css} ready" x="{xr:.1f}" width="{max(1.0, x2 - xr):.1f}" {box}>'
                    f'<title>{title}, ready after {clock(ready)}</title></rect>')
    return bars


