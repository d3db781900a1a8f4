"""Stopping a run from outside: SIGINT/SIGTERM/SIGHUP and the workflow timeout.

Either stops the run (``RunState.stop``) and cancels its running steps through
the scheduler; a second signal skips the kill grace. Services are left to the
stop rule (they end once nothing running needs them) unless a signal forces.
"""

from __future__ import annotations

import signal

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    import asyncio

    from flowrun.engine.scheduler import Scheduler

__all__ = ["Interrupts"]

_INTERRUPTS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupts:
    """One run's signal handlers and workflow deadline."""

    def __init__(self, scheduler: Scheduler, handle_signals: bool) -> None:
        self.scheduler = scheduler
        self.handle_signals = handle_signals
        self.count = 0  # signals received so far
        self._installed: list[int] = []
        self._deadline: asyncio.TimerHandle | None = None

    def arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """The run starts: install the signal handlers (if asked) and start the workflow timeout (if any)."""
        s = self.scheduler
        self._installed = self._install_signals(loop) if self.handle_signals else []
        if s.workflow.timeout is not None:
            s._workflow_deadline = loop.time() + s.workflow.timeout
            self._deadline = loop.call_later(s.workflow.timeout, self._workflow_timed_out)

    def disarm(self, loop: asyncio.AbstractEventLoop) -> None:
        """The run is over: cancel the workflow timeout, remove the handlers."""
        if self._deadline is not None:
            self._deadline.cancel()
        for sig in self._installed:
            loop.remove_signal_handler(sig)

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> list[int]:
        installed: list[int] = []
        for sig in _INTERRUPTS:
            try:
                loop.add_signal_handler(sig, self.interrupt, sig)
            except (ValueError, RuntimeError, NotImplementedError):  # not the main thread
                continue
            installed.append(sig)
        return installed

    def _workflow_timed_out(self) -> None:
        s = self.scheduler
        s._note("*", "workflow timeout reached: stopping every running step")
        try:
            # services stop by the stop rule; the deadline does not bound the handlers
            units = [unit for unit in s.running.values() if unit.slots and not unit.hook]
            for unit in units:  # before anything is cancelled: what ends now has timed out
                unit.timed_out_by_workflow = True
            s._apply(s.state.stop("workflow timeout", handlers=False))
            for unit in units:
                s._cancel(unit, force=False)
        finally:
            s.flush()

    def interrupt(self, sig: int) -> None:
        """Ctrl-C / SIGTERM / SIGHUP: cancel running steps; a second one skips the grace."""
        s = self.scheduler
        self.count += 1
        if s.result.interrupted_by is None:
            s.result.interrupted_by = int(sig)
        force = self.count > 1
        name = signal.Signals(sig).name
        s._note("*", f"{name}: cancelling running steps" + (" now (SIGKILL)" if force else ""))
        try:
            s._apply(s.state.stop(f"interrupted by {name}", handlers=not force, hooks=not force))
            for unit in list(s.running.values()):
                # services stop once what needs them has ended, handlers run on: unless forced
                if force or (unit.slots and not unit.hook):
                    s._cancel(unit, force=force)
        finally:
            s.flush()
