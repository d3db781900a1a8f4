"""Services (SPEC §8): real servers on 127.0.0.1, probed, needed, stopped; no process left behind."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from flowrun.events import StepStatus
from tests.integration.harness import SERVER, SLEEPIT, alive, free_port, run_yaml

S = StepStatus
PY = sys.executable


def mark(tmp: Path, name: str) -> float:
    return float((tmp / name).read_text())


def ready_at(result, name: str) -> float:  # type: ignore[no-untyped-def]
    step = result[name]
    return step.started + step.ready_after


@pytest.mark.parametrize("probe", ["tcp", "http"])
def test_a_dependent_starts_once_the_socket_answers(tmp_path: Path, probe: str) -> None:
    port = free_port()
    address = f"127.0.0.1:{port}" if probe == "tcp" else f"http://127.0.0.1:{port}/"
    result = run_yaml(tmp_path, f"""
        steps:
          server:
            service: true
            run: exec {SERVER} {probe} {port} --delay 0.4 --listen-mark listening
            ready: {{{probe}: "{address}", interval: 100ms}}
          client:
            run: {PY} -c 'import socket; socket.create_connection(("127.0.0.1", {port})).close()'
            depends_on: [server]
    """)
    assert result.ok, [(s.name, s.status, s.reason) for s in result]
    server, client = result["server"], result["client"]
    assert (server.status, client.status) == (S.SUCCESS, S.SUCCESS)
    listening = mark(tmp_path, "listening")
    assert listening <= ready_at(result, "server") <= client.started
    assert client.started - listening < 0.1 + 0.5, "a dependent starts within interval (+ slack) of the accept"
    assert server.ready_after is not None and server.ready_after >= 0.4
    assert server.ended >= client.ended, "the service stays up while its dependent runs"


def test_http_probe_waits_for_a_2xx_or_3xx(tmp_path: Path) -> None:
    port = free_port()
    result = run_yaml(tmp_path, f"""
        steps:
          broken:
            service: true
            run: exec {SERVER} http {port} --status 503
            ready: {{http: "http://127.0.0.1:{port}/health", interval: 50ms, timeout: 700ms}}
          client: {{run: "true", depends_on: [broken]}}
    """)
    assert result["broken"].status is S.FAILED
    assert result["broken"].reason == "not ready within 0.7s (HTTP 503)"
    assert result["client"].status is S.SKIPPED
    assert result.exit_code() == 1


def test_log_probe_readies_on_a_matching_line(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, f"""
        steps:
          app:
            service: true
            run: |
              echo "booting"; sleep 0.3
              {PY} -c 'import time; print(repr(time.time()), "ready to serve", flush=True)' | tee written
              exec sleep 100
            ready: {{log: 'ready to (serve|go)'}}
          client: {{run: "true", depends_on: [app]}}
    """)
    assert result.ok
    written = float((tmp_path / "written").read_text().split()[0])
    assert written <= result["client"].started < written + 0.25


def test_cmd_and_run_probes_run_in_the_service_folder_and_env(tmp_path: Path) -> None:
    (tmp_path / "srv").mkdir()
    result = run_yaml(tmp_path, """
        steps:
          by-cmd:
            service: true
            workdir: srv
            run: sleep 0.3; touch up; exec sleep 100
            ready: {cmd: [test, -f, up], interval: 50ms}
          by-run:
            service: true
            env: {FLAG: flag-file}
            run: sleep 0.2; touch "$FLAG"; exec sleep 100
            ready: {run: 'test -f "$FLAG"', interval: 50ms}
          client: {run: "true", depends_on: [by-cmd, by-run]}
    """)
    assert result.ok, [(s.name, s.status, s.reason) for s in result]
    assert result["by-cmd"].ready_after >= 0.3
    assert result["by-run"].ready_after >= 0.2
    assert result["client"].started >= ready_at(result, "by-cmd")


def test_no_probe_is_ready_at_start_and_completed_waits_for_the_end(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          svc: {service: true, run: exec sleep 100}
          user: {run: "sleep 0.2", depends_on: [svc]}
          after: {run: "true", depends_on: {svc: completed}}
    """)
    assert result.ok
    svc, user, after = result["svc"], result["user"], result["after"]
    assert svc.ready_after is not None and svc.ready_after < 0.1
    assert user.started - svc.started < 0.2
    assert svc.ended >= user.ended and after.started >= svc.ended
    assert svc.exit_code == 143, "stopped with SIGTERM, ends success whatever its exit code"


def test_services_stop_dependents_first_and_as_soon_as_nothing_needs_them(tmp_path: Path) -> None:
    db, api = free_port(), free_port()
    result = run_yaml(tmp_path, f"""
        steps:
          db:
            service: true
            run: exec {SERVER} tcp {db} --term-mark db-term
            ready: {{tcp: "127.0.0.1:{db}", interval: 50ms}}
          api:
            service: true
            run: exec {SERVER} http {api} --term-mark api-term
            depends_on: [db]
            ready: {{http: "http://127.0.0.1:{api}/", interval: 50ms}}
          test: {{run: "sleep 0.2", depends_on: [api]}}
          later: {{run: "sleep 0.5", depends_on: [test]}}
    """)
    assert result.ok, [(s.name, s.status, s.reason) for s in result]
    assert result["api"].started >= ready_at(result, "db")
    assert result["test"].started >= ready_at(result, "api")
    api_term, db_term = mark(tmp_path, "api-term"), mark(tmp_path, "db-term")
    assert result["test"].ended <= api_term < result["api"].ended + 0.05
    assert result["api"].ended <= db_term, "db is signalled once api has exited"
    assert db_term < result["later"].ended, "stopped as soon as nothing needs it, not at the run's end"
    assert result["api"].status is S.SUCCESS and result["db"].status is S.SUCCESS


def test_a_service_exiting_before_ready_fails_and_skips_its_dependents(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          svc: {service: true, run: "echo cannot start; exit 4", ready: {tcp: "127.0.0.1:1"}}
          user: {run: "true", depends_on: [svc]}
    """)
    assert (result["svc"].status, result["svc"].exit_code) == (S.FAILED, 4)
    assert result["svc"].reason == "exited before it was ready (exit code 4)"
    assert result["svc"].ready_after is None
    assert result["user"].status is S.SKIPPED
    assert result.exit_code() == 1


def test_a_service_exiting_while_needed_fails_the_run(tmp_path: Path) -> None:
    port = free_port()
    result = run_yaml(tmp_path, f"""
        steps:
          svc:
            service: true
            run: exec {SERVER} tcp {port} --exit-after 0.3
            ready: {{tcp: "127.0.0.1:{port}", interval: 50ms}}
          user: {{run: "sleep 3", depends_on: [svc]}}
          waiting: {{run: "true", depends_on: [user]}}
          unrelated: {{run: "sleep 1.5"}}
    """)
    svc = result["svc"]
    assert (svc.status, svc.exit_code, svc.reason) == (S.FAILED, 3, "exited while still needed (exit code 3)")
    assert result["waiting"].status is S.SKIPPED
    assert result.exit_code() == 1


def test_a_port_already_taken_fails_the_service(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        result = run_yaml(tmp_path, f"""
            steps:
              svc:
                service: true
                run: exec {SERVER} tcp {port}
                ready: {{tcp: "127.0.0.1:{port}", interval: 50ms, timeout: 5s}}
              user: {{run: "true", depends_on: [svc]}}
        """)
    assert result["svc"].status is S.FAILED
    assert result["svc"].reason.startswith("exited before it was ready (exit code 1)")
    assert result["user"].status is S.SKIPPED


def test_retry_starts_a_service_again_after_a_failed_start(tmp_path: Path) -> None:
    port = free_port()
    result = run_yaml(tmp_path, f"""
        steps:
          svc:
            service: true
            run: |
              if [ ! -e tried ]; then touch tried; exit 1; fi
              exec {SERVER} tcp {port}
            ready: {{tcp: "127.0.0.1:{port}", interval: 50ms}}
            retry: {{attempts: 2, delay: 100ms}}
          user: {{run: "true", depends_on: [svc]}}
    """)
    assert result.ok, [(s.name, s.status, s.reason) for s in result]
    assert result["svc"].attempts == 2 and result["svc"].status is S.SUCCESS


def test_an_exit_after_ready_is_not_retried(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          svc: {service: true, run: "sleep 0.2; exit 5", retry: 3}
          user: {run: "sleep 2", depends_on: [svc]}
    """)
    assert (result["svc"].status, result["svc"].attempts) == (S.FAILED, 1)


def test_services_take_no_job_slot(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        jobs: 1
        steps:
          a: {service: true, run: exec sleep 100}
          b: {service: true, run: exec sleep 100}
          user: {run: "true", depends_on: [a, b]}
    """, jobs=1)
    assert result.ok
    assert result["user"].started < result["a"].ended


def test_a_hanging_probe_is_killed_at_probe_timeout(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, f"""
        steps:
          svc:
            service: true
            run: exec sleep 100
            ready:
              run: echo $$ >> probe-pids; exec {SLEEPIT} ignore-term --sleep 100
              probe_timeout: 200ms
              interval: 50ms
              timeout: 1s
          user: {{run: "true", depends_on: [svc]}}
    """)
    svc = result["svc"]
    assert svc.status is S.FAILED
    assert svc.reason.startswith("not ready within 1s (probe still running after 0.2s: ready")
    assert 1.0 <= svc.duration < 3
    pids = [int(p) for p in (tmp_path / "probe-pids").read_text().split()]
    assert len(pids) >= 2, "the probe is tried again after each timeout"
    assert not any(alive(pid) for pid in pids)


def test_an_http_server_that_never_answers_is_not_ready(tmp_path: Path) -> None:
    port = free_port()
    result = run_yaml(tmp_path, f"""
        steps:
          svc:
            service: true
            run: exec {SERVER} http {port} --no-answer
            ready: {{http: "http://127.0.0.1:{port}/", probe_timeout: 200ms, interval: 50ms, timeout: 800ms}}
          user: {{run: "true", depends_on: [svc]}}
    """)
    assert result["svc"].status is S.FAILED
    assert result["svc"].reason == "not ready within 0.8s (no answer in time)"
    assert result["svc"].duration < 3


def test_a_service_ignoring_sigterm_is_killed_after_its_grace_and_noted(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, f"""
        steps:
          stubborn:
            service: true
            run: exec {SLEEPIT} ignore-term --sleep 100
            ready: {{log: "^ready$"}}  # its SIGTERM handler is set
            kill_grace: 300ms
          user: {{run: "true", depends_on: [stubborn]}}
    """)
    stubborn = result["stubborn"]
    assert (stubborn.status, stubborn.exit_code) == (S.SUCCESS, 137)
    assert stubborn.reason.startswith("stopped with SIGKILL")
    assert stubborn.ended - result["user"].ended >= 0.3


def test_a_setsid_daemon_of_a_service_is_not_left_behind(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, f"""
        steps:
          svc:
            service: true
            run: exec {SLEEPIT} default --sleep 100 --grandchild setsid --pidfile daemon.pid
            ready: {{log: "^ready$"}}
          user: {{run: "true", depends_on: [svc]}}
    """)
    assert result.ok
    assert not alive(int((tmp_path / "daemon.pid").read_text()))


def test_a_service_nothing_needs_does_not_start(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          lonely: {service: true, run: "touch started; exec sleep 100"}
          work: {run: "true"}
    """)
    assert result.ok
    assert result["lonely"].status is S.SKIPPED and result["lonely"].reason == "no step that runs needs it"
    assert not (tmp_path / "started").exists()


def test_fail_fast_stops_a_service_still_starting(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          slow: {service: true, run: exec sleep 100, ready: {run: "false", interval: 50ms}}
          user: {run: "true", depends_on: [slow]}
          broken: {run: "sleep 0.3; exit 1"}
    """)
    assert result["broken"].status is S.FAILED
    assert (result["slow"].status, result["slow"].reason) == (S.CANCELLED, "no longer needed")
    assert result["user"].status is S.SKIPPED
    assert result["slow"].duration < 2


def test_a_chatty_service_writes_20_mib_to_its_log(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, f"""
        steps:
          chatty:
            service: true
            run: |
              {PY} -c 'import sys; sys.stdout.write(("x" * 1023 + "\\n") * 20480); sys.stdout.flush()'
              echo done-writing
              exec sleep 100
            ready: {{log: done-writing}}
          user: {{run: "true", depends_on: [chatty]}}
    """)
    assert result.ok
    log = Path(result["chatty"].log_path)
    assert log.stat().st_size >= 20 * 1024 * 1024


def test_the_workflow_timeout_stops_steps_then_their_services(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        timeout: 600ms
        steps:
          svc: {service: true, run: exec sleep 100}
          user: {run: "sleep 100", depends_on: [svc]}
    """)
    assert result["user"].status is S.TIMED_OUT
    assert (result["svc"].status, result["svc"].exit_code) == (S.SUCCESS, 143)
    assert result["svc"].ended >= result["user"].ended
    assert result.exit_code() == 1
