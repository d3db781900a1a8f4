"""From raw process outcomes to step statuses: SPEC §2's pipe rules (pure)."""

from __future__ import annotations

import signal

from flowrun.events import StepStatus
from flowrun.graph import Plan
from flowrun.process.executor import MemberOutcome

__all__ = ["TIMEOUT_EXIT_CODE", "Statuses", "member_statuses"]

TIMEOUT_EXIT_CODE = 124
#: each member's status, exit code and reason
Statuses = dict[str, tuple[StepStatus, int | None, str]]
_SIGPIPE = int(signal.SIGPIPE)


def _exit_code(outcome: MemberOutcome) -> int | None:
    if outcome.exit_code is not None:
        return outcome.exit_code
    if outcome.signal is not None:
        return 128 + outcome.signal
    return None


def _ended_before(first: MemberOutcome, then: MemberOutcome) -> bool:
    """Did ``first`` exit before ``then``? Assumed so when the executor cannot tell.

    Asked only of a producer that *exited* 141, a shell reporting that a process of
    its own pipeline died of SIGPIPE. When that pipe was the step's stdout, its reader
    closed it and ended first; when the reader still reads, the pipe that broke was
    one inside the script (``yes | head -n 1; more``), and the script was cut short.
    A producer *killed* by SIGPIPE is not asked: a reader may close its stdin and
    only then exit (``head`` does), so the producer can end first.
    """
    if first.exit_order is None or then.exit_order is None:
        return True
    return first.exit_order < then.exit_order


def _sigpipe_rule(plan: Plan, name: str, by_name: dict[str, MemberOutcome], result: Statuses) -> None:
    """A producer ended by SIGPIPE (or 141) because its consumers had already finished
    successfully is a success: `yes | head -1` as two steps succeeds."""
    status, code, _ = result[name]
    consumers = [c for c in plan.consumers(name) if c in result]
    if status is not StepStatus.FAILED or not consumers or code not in (128 + _SIGPIPE, 141):
        return
    if not all(result[c][0] is StepStatus.SUCCESS for c in consumers):
        return
    producer = by_name[name]
    if producer.signal is not None or all(_ended_before(by_name[c], producer) for c in consumers):
        result[name] = (StepStatus.SUCCESS, code, "stopped by SIGPIPE after its readers finished")
    else:  # a pipe inside its script broke (`yes | head -n 1; more`) while its readers still read
        result[name] = (StepStatus.FAILED, code, f"exit code {code} (SIGPIPE) before its readers ended")


def member_statuses(plan: Plan, members: tuple[str, ...], outcomes: tuple[MemberOutcome, ...]) -> Statuses:
    """Status, exit code and reason of each member; members are producers-first."""
    if len(members) == 1 and len(outcomes) == 1:  # a lone step: no pipe rules apply
        o = outcomes[0]
        if o.exit_code == 0 and not (o.error or o.timed_out or o.cancelled):
            return {members[0]: (StepStatus.SUCCESS, 0, "")}
    by_name = {o.name: o for o in outcomes}
    result: Statuses = {}
    for name in members:
        o = by_name[name]
        code = _exit_code(o)
        if o.error:
            result[name] = (StepStatus.FAILED, code, o.error)
        elif o.timed_out:
            result[name] = (StepStatus.TIMED_OUT, TIMEOUT_EXIT_CODE, "timed out")
        elif o.cancelled:
            result[name] = (StepStatus.CANCELLED, code, "cancelled")
        elif code == 0:
            result[name] = (StepStatus.SUCCESS, 0, "")
        elif o.signal is not None:
            result[name] = (StepStatus.FAILED, code, f"killed by {signal.Signals(o.signal).name}")
        else:
            result[name] = (StepStatus.FAILED, code, f"exit code {code}")
    for name in reversed(members):
        _sigpipe_rule(plan, name, by_name, result)
    # pipefail: a consumer whose producer failed or timed out has failed too
    for name in members:
        producer = plan.producer(name)
        if producer in result and result[name][0] is StepStatus.SUCCESS:
            p_status = result[producer][0]
            if p_status in (StepStatus.FAILED, StepStatus.TIMED_OUT):
                result[name] = (StepStatus.FAILED, result[name][1], f"its producer {producer!r} {p_status.value}")
    return result
