"""Every integration test runs twice: on the Linux process path and on the portable one.

The autouse ``process_path`` fixture sets ``FLOWRUN_PROCESS`` (``linux`` or
``portable``) in ``os.environ`` for the test: ``flowrun.run()`` in the test
process and every ``python -m flowrun`` it starts pick that path. Test ids end
in ``[linux]`` / ``[portable]`` (``-k portable`` selects one path). A test that
checks what only the Linux path gives is marked ``linux_path(reason)`` and runs
on that path alone (``portable_path(reason)``: the reverse); one that does not
go through an executor at all (it drives the Spawner or a relay by hand) is
marked ``one_path(reason)`` and runs once, on the path detection picks here.
"""

from __future__ import annotations

import pytest

from flowrun.process.choose import PROCESS_VAR
from flowrun.process.detect import features

PATHS = ("linux", "portable")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "linux_path(reason): needs what only the Linux process path does")
    config.addinivalue_line("markers", "portable_path(reason): checks what only the portable process path does")
    config.addinivalue_line("markers", "one_path(reason): independent of the process path; run once")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "process_path" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("linux_path"):
        paths: tuple[str, ...] = ("linux",)
    elif metafunc.definition.get_closest_marker("portable_path"):
        paths = ("portable",)
    elif metafunc.definition.get_closest_marker("one_path"):
        paths = ("linux",) if features().fast_path else ("portable",)
    else:
        paths = PATHS
    metafunc.parametrize("process_path", paths, indirect=True)


@pytest.fixture(autouse=True)
def process_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The process path this test runs on, set in ``FLOWRUN_PROCESS``."""
    path = str(request.param)
    if path == "linux" and not features().fast_path:
        pytest.skip(f"no Linux process path here: {'; '.join(features().missing)}")
    monkeypatch.setenv(PROCESS_VAR, path)
    return path
