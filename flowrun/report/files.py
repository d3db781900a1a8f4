"""The report files of ``flowrun up --junit/--json/--html``: pick the reporters to write them."""

from __future__ import annotations

from flowrun.graph import Plan
from flowrun.report.base import Reporter

__all__ = ["file_reporters", "plan_dependencies"]


def plan_dependencies(plan: Plan) -> dict[str, list[str]]:
    """Step → the steps it waits for (``depends_on``) or reads from (``stdin``), for the critical path."""
    deps: dict[str, list[str]] = {}
    for name in plan.order:
        wanted = list(plan.dependencies(name))
        producer = plan.producer(name)
        deps[name] = [*wanted, producer] if producer else wanted
    return deps


def file_reporters(
    *,
    junit: str | None,
    json: str | None,
    html: str | None,
    dependencies: dict[str, list[str]] | None = None,
    workflow_file: str | None = None,
) -> list[Reporter]:
    """Reporters writing each requested file when the run ends (paths relative to the current folder).

    ``dependencies`` (step → the steps it waits for or reads from, see ``plan_dependencies``)
    gives the reports a critical path. Missing parent folders are created; a file that
    cannot be written is reported on stderr and leaves the run's exit code alone.
    """
    reporters: list[Reporter] = []
    if junit:  # each report's module is imported only when it is asked for (start-up time)
        from flowrun.report.junit import JUnitReport

        reporters.append(JUnitReport(junit, dependencies=dependencies, workflow_file=workflow_file))
    if json:
        from flowrun.report.jsonreport import JsonReport

        reporters.append(JsonReport(json, dependencies=dependencies, workflow_file=workflow_file))
    if html:
        from flowrun.report.html import HtmlReport

        reporters.append(HtmlReport(html, dependencies=dependencies, workflow_file=workflow_file))
    return reporters
