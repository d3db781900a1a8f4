"""flowrun.process.loop: the asyncio semantics the engine relies on."""

from __future__ import annotations

import os
import signal

import pytest

from flowrun.process import loop as mini


def test_callbacks_run_in_order_and_timers_by_time() -> None:
    seen: list[str] = []

    async def main() -> str:
        lp = mini.running_loop()
        lp.call_later(0.02, seen.append, "late")
        lp.call_later(0.01, seen.append, "early")
        lp.call_soon(seen.append, "soon-1")
        lp.call_soon(seen.append, "soon-2")
        lp.call_later(0.005, seen.append, "never").cancel()
        done = lp.create_future()
        lp.call_later(0.03, done.set_result, "result")
        return await done

    assert mini.run(main()) == "result"
    assert seen == ["soon-1", "soon-2", "early", "late"]
    with pytest.raises(RuntimeError):
        mini.running_loop()  # nothing runs any more (and asyncio was never imported here)


def test_a_reader_fires_once_removed_it_does_not(capsys: pytest.CaptureFixture[str]) -> None:
    r, w = os.pipe()

    async def main() -> bytes:
        lp = mini.running_loop()
        done = lp.create_future()

        def readable() -> None:
            lp.remove_reader(r)
            done.set_result(os.read(r, 10))

        lp.add_reader(r, readable)
        lp.call_soon(os.write, w, b"hi")
        return await done

    try:
        assert mini.run(main()) == b"hi"
    finally:
        os.close(r)
        os.close(w)


def test_an_exception_in_a_callback_is_reported_and_the_loop_goes_on(capsys: pytest.CaptureFixture[str]) -> None:
    async def main() -> int:
        lp = mini.running_loop()
        done = lp.create_future()
        lp.call_soon(lambda: 1 / 0)
        lp.call_soon(done.set_result, 7)
        return await done

    assert mini.run(main()) == 7
    assert "ZeroDivisionError" in capsys.readouterr().err


def test_a_signal_handler_runs_as_a_callback_and_is_removed() -> None:
    got: list[int] = []

    async def main() -> None:
        lp = mini.running_loop()
        done = lp.create_future()

        def handler(sig: int) -> None:
            got.append(sig)
            lp.remove_signal_handler(signal.SIGUSR1)
            done.set_result(None)

        lp.add_signal_handler(signal.SIGUSR1, handler, signal.SIGUSR1)
        lp.call_soon(os.kill, os.getpid(), signal.SIGUSR1)
        await done

    before = signal.getsignal(signal.SIGUSR1)
    mini.run(main())
    assert got == [signal.SIGUSR1]
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL or before == signal.SIG_DFL


def test_an_interrupt_runs_the_coroutine_finally_blocks_first() -> None:
    cleaned: list[bool] = []

    async def main() -> None:
        lp = mini.running_loop()
        never = lp.create_future()
        lp.call_soon(_raise_interrupt)
        try:
            await never
        finally:
            cleaned.append(True)

    with pytest.raises(KeyboardInterrupt):
        mini.run(main())
    assert cleaned == [True]


def _raise_interrupt() -> None:
    raise KeyboardInterrupt


def test_each_thread_has_its_own_running_loop() -> None:
    import threading

    seen: dict[str, object] = {}

    async def main(name: str) -> None:
        lp = mini.running_loop()
        done = lp.create_future()
        lp.call_later(0.05, done.set_result, None)
        await done
        seen[name] = mini.running_loop() is lp

    thread = threading.Thread(target=mini.run, args=(main("thread"),))
    thread.start()
    mini.run(main("main"))
    thread.join()
    assert seen == {"thread": True, "main": True}
