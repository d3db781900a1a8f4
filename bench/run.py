#!/usr/bin/env python3
"""flowrun's benchmark suite: every figure is a ratio against a floor measured in the same run.

    python bench/run.py [--only NAME ...] [--runs N] [--quick] [--keep]

Each case times flowrun and its floor (or the ideal the floor stands for) in
interleaved rounds: one untimed warm-up round, then rounds A B C ... A B C with
the order rotated every round, so a noisy machine hits every variant alike.
A variant is timed as a whole process (``time.perf_counter()`` just before it is
started, just after it exits), in its own session, stdin ``/dev/null``, stdout
and stderr to a log file. Every column is a median over the rounds with its
min–max; ratios are taken round by round, then their median. See bench/README.md.

The floors for the step-cost cases come from the peers harness,
``../shared/bench/floors.py`` relative to the repository root (the same floors
and the same workload files the peer tools were timed on). Without that folder
those cases are skipped with a message; the others still run.

Standard library and flowrun only. Run it with the interpreter flowrun is
installed in (the venv's ``python``): that interpreter also runs the floors.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import os
import random
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "bench"  # ../shared/bench beside the project root
PY = sys.executable  # not resolved: a venv's python is a symlink out of the venv
TOKEN_VAR = "FLOWRUN_BENCH_TOKEN"  # every process a run starts inherits it
PROCESS_VAR = "FLOWRUN_PROCESS"  # flowrun's process path: the portable-* cases set it
MARKER = ["sleep", "1000.123"]  # the timeout case's survivors look like this
GIB = 1024**3
MB = 1024 * 1024
IMPORT_FLOOR = "import yaml, pydantic, networkx, rich"

LOAD_CODE = """
import sys, time
import flowrun
import flowrun.load.reader, flowrun.spec.expand  # the loader's own imports (yaml, pydantic) are not timed
from flowrun.graph import plan_for
t0 = time.perf_counter()
w = flowrun.load(sys.argv[1])
plan_for(w)
print(f"seconds={time.perf_counter() - t0!r} steps={len(w.steps)}")
"""

# A fresh, small process that runs only the measured command, so that the peak RSS
# getrusage(RUSAGE_CHILDREN) reports is that command's (or its largest descendant's), not
# the bench's: a child created by fork/vfork inherits its parent's memory until it execs.
RSS_WRAPPER = """
import os, resource, sys
pid = os.posix_spawnp(sys.argv[1], sys.argv[1:], os.environ)
status = os.waitpid(pid, 0)[1]
sys.stdout.flush()
print(f"\\nmaxrss_kb={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}", flush=True)
sys.exit(os.waitstatus_to_exitcode(status))
"""

PARSE_CODE = """
import sys, time
import networkx as nx
import yaml
t0 = time.perf_counter()
with open(sys.argv[1], "rb") as f:
    doc = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
g = nx.DiGraph()
for name, s in doc["steps"].items():
    g.add_node(name)
    g.add_edges_from((d, name) for d in s.get("depends_on", []))
order = list(nx.topological_sort(g))
print(f"seconds={time.perf_counter() - t0!r} steps={len(order)}")
"""


# --------------------------------------------------------------------- model
@dataclass
class Run:
    """One timed process."""

    wall: float
    rc: int
    log: str  # the tail of its stdout+stderr
    error: str | None = None
    values: dict[str, float] = field(default_factory=dict)  # parsed from its output, survivors...
    noise: int = 0  # "Exception ignored" / "Traceback" lines in its output


@dataclass
class Variant:
    """A command timed in every round."""

    argv: list[str]
    cwd: Path
    expect_rc: int = 0
    check: Callable[[Run], str | None] | None = None  # after the run, before clean-up: an error or None
    workdir: Path | None = None  # a workflow folder: its .flowrun/ is removed after each run
    marker: list[str] | None = None  # argv of processes that must not outlive the run
    bound: float = 300.0  # killed after this many seconds
    env: dict[str, str] | None = None  # instead of the bench's environment


Round = dict[str, Run]


@dataclass
class Row:
    case: str
    flowrun: str = ""
    floor: str = ""
    ratio: str = ""
    target: str = ""
    result: str = "FAIL"
    notes: list[str] = field(default_factory=list)


@dataclass
class Ctx:
    tmp: Path
    runs: int
    quick: bool
    budget: float
    env: dict[str, str]
    token: str
    flowrun: list[str]
    wl: ModuleType | None  # ../shared/bench/workloads.py
    floors: Path | None  # ../shared/bench/floors.py
    #: --against REF: (REF, the environment that runs that commit's flowrun)
    against: tuple[str, dict[str, str]] | None = None


@dataclass
class Plan:
    """What a case times and how its rounds become a row."""

    variants: dict[str, Variant]
    summarize: Callable[[list[Round]], Row]
    warmup: bool = True
    max_runs: int | None = None
    #: --against REF also times this case at REF (False: the case needs what REF may not have)
    against: bool = True


# ----------------------------------------------------------------- processes
def exited_within(pid: int, bound: float) -> bool:
    """Block until the child exits (True) or bound seconds pass (False), without reaping it."""
    if not hasattr(os, "pidfd_open"):  # macOS: ask waitid without reaping, every 1 ms
        deadline = time.perf_counter() + bound
        while time.perf_counter() < deadline:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
            time.sleep(0.001)
        return False
    fd = os.pidfd_open(pid)
    try:
        return bool(select.select([fd], [], [], bound)[0])
    finally:
        os.close(fd)


def token_pids(token: str) -> list[tuple[int, list[str]]]:
    """Live processes (pid, argv) whose environment carries this run's token."""
    needle = f"{TOKEN_VAR}={token}".encode()
    found = []
    if not os.path.exists("/proc/self/environ"):  # macOS: ps shows environments (-E)
        out = subprocess.run(["ps", "-A", "-ww", "-E", "-o", "pid=,stat=,command="], capture_output=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) > 2 and needle in parts and not parts[1].startswith(b"Z"):
                found.append((int(parts[0]), [p.decode(errors="replace") for p in parts[2:] if b"=" not in p]))
        return found
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
        except OSError:
            continue
        if argv:  # a zombie has no cmdline: it is dead already
            found.append((int(entry.name), argv))
    return found


def kill_pids(pids: Iterable[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def read_tail(path: Path, limit: int = 8 * MB) -> tuple[str, int]:
    """The last 2000 characters of a log and how many Python error lines it holds."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(max(0, size - limit))
        text = f.read().decode(errors="replace")
    noise = text.count("Exception ignored") + text.count("Traceback (most recent call last)")
    return text[-2000:], noise


def run_one(v: Variant, ctx: Ctx) -> Run:
    """Time one process; count and kill what it left behind; remove its logs."""
    logf = ctx.tmp / "last.log"
    with open(logf, "wb") as log:
        t0 = time.perf_counter()
        p = subprocess.Popen(
            v.argv,
            cwd=v.cwd,
            env=v.env or ctx.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        hung = not exited_within(p.pid, v.bound)
        wall = time.perf_counter() - t0
        if hung:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
        rc = p.wait()
    tail, noise = read_tail(logf)
    r = Run(wall, rc, tail, noise=noise)
    if v.marker:
        r.values.update(survivors(v.marker, ctx.token))
    left = token_pids(ctx.token)
    if left:
        r.values["leftovers"] = len(left)
        kill_pids(pid for pid, _ in left)
    if hung:
        r.error = f"still running after {v.bound:g} s: killed"
    elif r.rc != v.expect_rc:
        r.error = f"exit {r.rc} (expected {v.expect_rc}): {last_lines(tail)}"
    elif v.check:
        r.error = v.check(r)
    if v.workdir:
        shutil.rmtree(v.workdir / ".flowrun" / "runs", ignore_errors=True)  # the plan cache stays, as for a user
    return r


def survivors(marker: list[str], token: str) -> dict[str, float]:
    """Marker processes alive right at exit, and those still alive 0.5 s later."""
    at_exit = sum(1 for _, a in token_pids(token) if a == marker)
    later = at_exit
    if at_exit:
        time.sleep(0.5)
        later = sum(1 for _, a in token_pids(token) if a == marker)
    return {"survivors_at_exit": at_exit, "survivors": later}


def last_lines(text: str, n: int = 3) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return " / ".join(lines[-n:])[-300:]


def parse_values(text: str) -> dict[str, float]:
    """key=value words of a child's last output line."""
    lines = text.strip().splitlines()
    out = {}
    for word in lines[-1].split() if lines else []:
        key, _, val = word.partition("=")
        try:
            out[key] = float(val)
        except ValueError:
            continue
    return out


# -------------------------------------------------------------------- rounds
def measure(plan: Plan, ctx: Ctx, notes: list[str]) -> tuple[list[Round], str | None]:
    """Warm-up, then interleaved rounds with the order rotated; stops at the first failure."""
    labels = list(plan.variants)
    runs = min(ctx.runs, plan.max_runs or ctx.runs)
    if plan.warmup:
        t0 = time.perf_counter()
        for lb in labels:
            r = run_one(plan.variants[lb], ctx)
            if r.error:
                return [], f"{lb} (warm-up): {r.error}"
        spent = time.perf_counter() - t0
        if spent * runs > ctx.budget and runs > 3:
            runs = max(3, int(ctx.budget / spent))
            notes.append(f"{runs} runs (a round takes {spent:.1f} s, budget {ctx.budget:g} s)")
    rounds: list[Round] = []
    for i in range(runs):
        k = i % len(labels)
        rnd = {lb: run_one(plan.variants[lb], ctx) for lb in labels[k:] + labels[:k]}
        bad = [f"{lb}: {r.error}" for lb, r in rnd.items() if r.error]
        if bad:
            return rounds, bad[0]
        rounds.append(rnd)
    return rounds, None


# ------------------------------------------------------------------- figures
def fmt_s(x: float) -> str:
    return f"{x:.2f} s" if x >= 1 else f"{x * 1000:.0f} ms"


def fmt_ms(x: float) -> str:
    return f"{x:.2f} ms"


def fmt_x(x: float) -> str:
    return f"{x:.2f}x"


def fmt_gbs(x: float) -> str:
    return f"{x:.2f} GB/s"


def fmt_mb(x: float) -> str:
    return f"{x:.0f} MB"


def stat(xs: list[float], fmt: Callable[[float], str]) -> str:
    """median (min–max)."""
    if not xs:
        return "n/a"
    med = fmt(statistics.median(xs))
    return med if len(xs) == 1 else f"{med} ({fmt(min(xs))}–{fmt(max(xs))})"


def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def ratios(num: list[float], den: list[float]) -> list[float]:
    return [a / b for a, b in zip(num, den, strict=True) if b > 0]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def noise_note(rounds: list[Round], label: str = "flowrun") -> list[str]:
    counts = [r[label].noise for r in rounds if label in r]
    if counts and max(counts) > 0:
        return [
            f"{label} printed Python error text ('Exception ignored'/'Traceback'): "
            f"{stat([float(c) for c in counts], lambda x: f'{x:.0f}')} occurrences per run"
        ]
    return []


# ------------------------------------------------------------------ workflows
def yaml_list(items: Iterable[str]) -> str:
    return "[" + ", ".join(f'"{x}"' for x in items) + "]"


def write_flowrun(path: Path, steps: dict[str, dict[str, str]], jobs: int) -> Path:
    """A flowrun.yaml; each step's fields are given already written as YAML flow values."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["version: 1", f"jobs: {jobs}", "steps:"]
    for name, fields in steps.items():
        lines.append(f"  {name}: {{" + ", ".join(f"{k}: {v}" for k, v in fields.items()) + "}")
    path.write_text("\n".join(lines) + "\n")
    return path


def random_dag(n: int, seed: int, parents: int = 4, window: int = 64) -> dict[str, dict[str, str]]:
    """Step i runs `true` and depends on min(i, parents) distinct steps among the `window` before it."""
    rng = random.Random(seed)
    width = len(str(n - 1))
    names = [f"s{i:0{width}d}" for i in range(n)]
    steps: dict[str, dict[str, str]] = {}
    for i, name in enumerate(names):
        lo = max(0, i - window)
        deps = sorted(rng.sample(range(lo, i), min(parents, i - lo)))
        steps[name] = {"cmd": '["true"]'}
        if deps:
            steps[name]["depends_on"] = "[" + ", ".join(names[d] for d in deps) + "]"
    return steps


def up(
    ctx: Ctx,
    wf: Path,
    jobs: int,
    expect_rc: int = 0,
    check: Callable[[Run], str | None] | None = None,
    marker: list[str] | None = None,
    bound: float = 300.0,
    process: str | None = None,
) -> Variant:
    """`flowrun up` on a workflow file; its .flowrun/ is removed after each run.

    ``process``: the FLOWRUN_PROCESS this run gets (None: the bench's own setting, auto by default).
    """
    argv = [*ctx.flowrun, "up", "-f", str(wf), "-j", str(jobs), "--output", "plain", "-q"]
    env = None if process is None else {**ctx.env, PROCESS_VAR: process}
    return Variant(argv, wf.parent, expect_rc, check, workdir=wf.parent, marker=marker, bound=bound, env=env)


def one_step(ctx: Ctx, jobs: int) -> Path:
    """flowrun's start-up: one step running `true`."""
    return write_flowrun(ctx.tmp / f"one-j{jobs}" / "flowrun.yaml", {"s0": {"cmd": '["true"]'}}, jobs)


def count_check(path: Path, want: int) -> Callable[[Run], str | None]:
    def check(r: Run) -> str | None:
        try:
            got = int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return f"no count in {path.name}: {last_lines(r.log)}"
        finally:
            path.unlink(missing_ok=True)
        return None if got == want else f"{path.name} counted {got} bytes, expected {want}"

    return check


def printed_count_check(want: int) -> Callable[[Run], str | None]:
    def check(r: Run) -> str | None:
        nums = [int(t) for t in r.log.split() if t.isdigit()]
        got = nums[-1] if nums else None
        return None if got == want else f"counted {got} bytes, expected {want}"

    return check


def values_check(steps: int) -> Callable[[Run], str | None]:
    def check(r: Run) -> str | None:
        r.values.update(parse_values(r.log))
        if "seconds" not in r.values:
            return f"no timing printed: {last_lines(r.log)}"
        if r.values.get("steps") != steps:
            return f"loaded {r.values.get('steps')} steps, expected {steps}"
        return None

    return check


# --------------------------------------------------------------------- cases
def case_load(ctx: Ctx) -> Plan:
    n = 2000 if ctx.quick else 10_000
    wf = write_flowrun(ctx.tmp / "load" / "flowrun.yaml", random_dag(n, seed=10_000), jobs=2)
    variants = {
        "flowrun": Variant([PY, "-c", LOAD_CODE, str(wf)], wf.parent, check=values_check(n)),
        "floor": Variant([PY, "-c", PARSE_CODE, str(wf)], wf.parent, check=values_check(n)),
    }

    def summarize(rounds: list[Round]) -> Row:
        fr = [r["flowrun"].values["seconds"] for r in rounds]
        fl = [r["floor"].values["seconds"] for r in rounds]
        walls = [r["flowrun"].wall for r in rounds]
        return Row(
            "load-10k" + (f" [{n}]" if ctx.quick else ""),
            stat(fr, fmt_s),
            stat(fl, fmt_s),
            stat(ratios(fr, fl), fmt_x),
            "< 2 s",
            verdict(med(fr) < 2.0),
            [
                f"in-process flowrun.load + plan_for, imports excluded; whole child process {stat(walls, fmt_s)}",
                "floor: yaml.load (CSafeLoader) + networkx DiGraph + topological sort, same file",
            ],
        )

    return Plan(variants, summarize)


def case_validate(ctx: Ctx) -> Plan:
    steps: dict[str, dict[str, str]] = {}
    for i in range(10):
        steps[f"step{i}"] = {"cmd": '["true"]'}
        if i:
            steps[f"step{i}"]["depends_on"] = f"[step{i - 1}]"
    wf = write_flowrun(ctx.tmp / "validate" / "flowrun.yaml", steps, jobs=2)
    variants = {
        "flowrun": Variant([*ctx.flowrun, "validate", "-f", str(wf)], wf.parent, workdir=wf.parent),
        "floor": Variant([PY, "-c", IMPORT_FLOOR], wf.parent),
    }

    def summarize(rounds: list[Round]) -> Row:
        fr = [r["flowrun"].wall for r in rounds]
        fl = [r["floor"].wall for r in rounds]
        rs = ratios(fr, fl)
        return Row(
            "validate-10",
            stat(fr, fmt_s),
            stat(fl, fmt_s),
            stat(rs, fmt_x),
            "≤ 1.5x",
            verdict(med(rs) <= 1.5),
            [f"floor: python -c '{IMPORT_FLOOR}' (whole process)"],
        )

    return Plan(variants, summarize)


def per_step_row(name: str, rounds: list[Round], n: int, variants: dict[str, Variant], sides: tuple[str, str],
                 limit: float, notes: list[str]) -> Row:
    """A per-step row: ``(wall(n steps) - wall(1 step)) / n`` for the two sides (each has a ``-1`` twin)."""
    def per_step(a: str) -> list[float]:
        return [(r[a].wall - r[f"{a}-1"].wall) / n * 1000 for r in rounds]

    fr, fl = per_step(sides[0]), per_step(sides[1])
    rs = ratios(fr, fl)
    walls = {lb: stat([r[lb].wall for r in rounds], fmt_s) for lb in variants}
    walls_note = "walls: " + "; ".join(f"{side} {walls[side]}, 1 step {walls[side + '-1']}" for side in sides)
    return Row(name, stat(fr, fmt_ms), stat(fl, fmt_ms), stat(rs, fmt_x), f"≤ {limit:g}x per step",
               verdict(med(rs) <= limit), [notes[0], walls_note, *notes[1:]])


def step_workload(
    ctx: Ctx, name: str, make: Callable[[ModuleType], object], quick_n: int
) -> tuple[int, int, Path, Path]:
    """The shared workload ``make`` builds (smaller with --quick) and its one-step twin, written for flowrun:
    (steps, jobs, its folder, the twin's folder)."""
    wl = ctx.wl
    assert wl is not None
    w = make(wl)
    if ctx.quick:
        w = rebuild(wl, w, quick_n)
    n, jobs = len(w.steps), w.jobs  # type: ignore[attr-defined]
    d, d1 = ctx.tmp / name, ctx.tmp / f"{name}-1"
    wl.write_canonical(w, d)
    wl.write_canonical(wl.wide(n=1, jobs=jobs), d1)
    return n, jobs, d, d1


def step_case(name: str, make: Callable[[ModuleType], object], quick_n: int) -> Callable[[Ctx], Plan]:
    """wide/chain/dag: per step cost with each tool's one-step start-up taken off, against floors.py."""

    def build(ctx: Ctx) -> Plan:
        floors = ctx.floors
        assert floors is not None
        n, jobs, d, d1 = step_workload(ctx, name, make, quick_n)

        def floor(folder: Path) -> Variant:
            return Variant([PY, str(floors), "dag", "--spawn", "posix_spawn", str(folder)], folder)

        variants = {
            "flowrun": up(ctx, d / "flowrun.yaml", jobs),
            "flowrun-1": up(ctx, d1 / "flowrun.yaml", jobs),
            "floor": floor(d),
            "floor-1": floor(d1),
        }

        def summarize(rounds: list[Round]) -> Row:
            return per_step_row(name + (f" [{n}]" if ctx.quick else ""), rounds, n, variants, ("flowrun", "floor"),
                                1.5, [f"per step = (wall({n} steps) - wall(1 step)) / {n}, -j {jobs}; floor: "
                                      "floors.py dag --spawn posix_spawn", *noise_note(rounds)])

        return Plan(variants, summarize)

    return build


def portable_step_case(name: str, make: Callable[[ModuleType], object], quick_n: int) -> Callable[[Ctx], Plan]:
    """Per-step cost of the portable process path against the path detection picks, same workload, same rounds."""

    def build(ctx: Ctx) -> Plan:
        n, jobs, d, d1 = step_workload(ctx, name, make, quick_n)
        variants = {
            "portable": up(ctx, d / "flowrun.yaml", jobs, process="portable"),
            "portable-1": up(ctx, d1 / "flowrun.yaml", jobs, process="portable"),
            "auto": up(ctx, d / "flowrun.yaml", jobs, process="auto"),
            "auto-1": up(ctx, d1 / "flowrun.yaml", jobs, process="auto"),
        }

        def summarize(rounds: list[Round]) -> Row:
            return per_step_row(name + (f" [{n}]" if ctx.quick else ""), rounds, n, variants, ("portable", "auto"),
                                2.0, [f"per step = (wall({n} steps) - wall(1 step)) / {n}, -j {jobs}; flowrun column: "
                                      f"{PROCESS_VAR}=portable; floor column: {PROCESS_VAR}=auto (the Linux path "
                                      "where it works)", *noise_note(rounds, "portable")])

        return Plan(variants, summarize, against=False)

    return build


def rebuild(wl: ModuleType, w: object, n: int) -> object:
    """The same kind of workload, smaller (for --quick)."""
    kind = w.kind  # type: ignore[attr-defined]
    if kind == "wide":
        return wl.wide(n=n, jobs=w.jobs)  # type: ignore[attr-defined]
    if kind == "chain":
        return wl.chain(n=n)
    return wl.dag(n=n)


def case_startup(ctx: Ctx) -> Plan:
    """One `true` step, whole process, beside the interpreter's floors and the peers that are installed."""
    wf = one_step(ctx, 1)
    env = {**ctx.env, "PATH": f"{Path(PY).parent}{os.pathsep}{ctx.env.get('PATH', '')}"}  # peers in the venv
    variants = {
        "flowrun": up(ctx, wf, 1),
        "floor": Variant([PY, "-c", "pass"], wf.parent),
        "import asyncio": Variant([PY, "-c", "import asyncio"], wf.parent),
    }
    peers, missing = _startup_peers(ctx, env)
    variants.update(peers)
    python_peers = [lb for lb in peers if lb != "go-task"]

    def summarize(rounds: list[Round]) -> Row:
        walls = {lb: [r[lb].wall for r in rounds] for lb in variants}
        fr = walls["flowrun"]
        notes = ["whole process: flowrun up -f one-step.yaml -j 1 --output plain -q, plan cache filled by the warm-up"]
        for lb in variants:
            if lb != "flowrun":
                notes.append(f"{lb}: {stat(walls[lb], fmt_s)}; flowrun / {lb} {stat(ratios(fr, walls[lb]), fmt_x)}")
        notes += [f"{name}: not installed beside {PY}" for name in missing]
        checks = []
        if python_peers:
            best = min(python_peers, key=lambda lb: med(walls[lb]))
            checks.append(med(ratios(fr, walls[best])) <= 0.8)
        if "go-task" in peers:
            checks.append(med(ratios(fr, walls["go-task"])) <= 1.0)
        return Row(
            "startup",
            stat(fr, fmt_s),
            stat(walls["floor"], fmt_s),
            stat(ratios(fr, walls["floor"]), fmt_x),
            "≤ 0.8x best Python peer, ≤ go-task",
            verdict(all(checks)) if checks else "n/a",
            notes,
        )

    return Plan(variants, summarize)


def _startup_peers(ctx: Ctx, env: dict[str, str]) -> tuple[dict[str, Variant], list[str]]:
    """go-task and pypyr (serial) on the peers' startup workload, where installed beside PY."""
    if ctx.wl is None:
        return {}, ["go-task", "pypyr (../shared/bench not found)"]
    sys.path.insert(0, str(SHARED))
    try:
        tools = importlib.import_module("tools")  # the peers' own definition writers
    finally:
        sys.path.remove(str(SHARED))
    w = ctx.wl.startup()
    folder = ctx.tmp / "startup-peers"
    folder.mkdir(parents=True, exist_ok=True)
    found, missing = {}, []
    for label, tool in (("go-task", tools.GoTask()), ("pypyr", tools.Pypyr(parallel=False))):
        program = shutil.which(tool.program, path=env["PATH"])
        if program is None:
            missing.append(label)
            continue
        tool.write(w, folder)
        found[label] = Variant([program, *tool.argv(w, folder)[1:]], folder, env=env)
    return found, missing


def case_sleepers(ctx: Ctx) -> Plan:
    steps = {f"s{i:02d}": {"cmd": '["sleep", "0.5"]'} for i in range(16)}
    wf = write_flowrun(ctx.tmp / "sleepers" / "flowrun.yaml", steps, jobs=16)
    variants = {"flowrun": up(ctx, wf, 16), "flowrun-1": up(ctx, one_step(ctx, 16), 16)}

    def summarize(rounds: list[Round]) -> Row:
        fr = [r["flowrun"].wall for r in rounds]
        ideal = [0.5 + r["flowrun-1"].wall for r in rounds]
        excess = [a - b for a, b in zip(fr, ideal, strict=True)]
        return Row(
            "sleepers",
            stat(fr, fmt_s),
            stat(ideal, fmt_s),
            stat(ratios(fr, ideal), fmt_x),
            "≤ 0.5 s + start-up + 0.1 s",
            verdict(med(excess) <= 0.1),
            [
                "16 x sleep 0.5 at -j 16; floor = 0.5 s + flowrun's 1-step wall in the same round; "
                f"excess over it {stat(excess, fmt_s)}"
            ],
        )

    return Plan(variants, summarize)


def pipe_case(name: str, consumers: int, target: float, process: str | None = None) -> Callable[[Ctx], Plan]:
    """head -c N /dev/zero into `consumers` x wc -c, against sh -c 'head | wc -c' (``process``: see ``up``)."""

    def build(ctx: Ctx) -> Plan:
        nbytes = GIB // 2 if ctx.quick else 2 * GIB
        steps = {"producer": {"cmd": yaml_list(["head", "-c", str(nbytes), "/dev/zero"])}}
        names = ["consumer"] if consumers == 1 else [f"consumer{i}" for i in range(1, consumers + 1)]
        for c in names:
            steps[c] = {"cmd": '["wc", "-c"]', "stdin": "producer", "stdout": f"{{file: {c}.txt}}"}
        wf = write_flowrun(ctx.tmp / name / "flowrun.yaml", steps, jobs=max(2, consumers + 1))
        checks = [count_check(wf.parent / f"{c}.txt", nbytes) for c in names]

        def check_all(r: Run) -> str | None:
            errors = [e for e in (c(r) for c in checks) if e]
            return errors[0] if errors else None

        sh = f"head -c {nbytes} /dev/zero | wc -c"
        variants = {
            "flowrun": up(ctx, wf, max(2, consumers + 1), check=check_all, process=process),
            "flowrun-1": up(ctx, one_step(ctx, 2), 2, process=process),
            "floor": Variant(["sh", "-c", sh], ctx.tmp, check=printed_count_check(nbytes)),
            "floor-1": Variant(["sh", "-c", "true | true"], ctx.tmp),
        }

        def summarize(rounds: list[Round]) -> Row:
            def gbs(a: str, b: str) -> list[float]:
                return [nbytes / (r[a].wall - r[b].wall) / 1e9 if r[a].wall > r[b].wall else 0.0 for r in rounds]

            fr, fl = gbs("flowrun", "flowrun-1"), gbs("floor", "floor-1")
            rs = ratios(fr, fl)
            walls = {lb: stat([r[lb].wall for r in rounds], fmt_s) for lb in variants}
            label = name if not ctx.quick else f"{name} [{nbytes // MB} MiB]"
            return Row(
                label,
                stat(fr, fmt_gbs),
                stat(fl, fmt_gbs),
                stat(rs, fmt_x),
                f"≥ {target:g}x",
                verdict(med(rs) >= target),
                [
                    f"{consumers} consumer(s); GB/s = bytes / (wall - 1-step wall); floor: sh -c '{sh}'"
                    + (f"; flowrun with {PROCESS_VAR}={process}" if process else ""),
                    f"walls: flowrun {walls['flowrun']}, 1 step {walls['flowrun-1']}; sh {walls['floor']}",
                ],
            )

        return Plan(variants, summarize, against=process is None)

    return build


def case_timeout(ctx: Ctx) -> Plan:
    script = f"sleep {MARKER[1]} & sleep {MARKER[1]}; wait"
    steps = {"hang": {"cmd": yaml_list(["sh", "-c", script]), "timeout": "1s"}}
    wf = write_flowrun(ctx.tmp / "timeout" / "flowrun.yaml", steps, jobs=1)
    variants = {
        "flowrun": up(ctx, wf, 1, expect_rc=1, marker=MARKER, bound=20.0),
        "flowrun-1": up(ctx, one_step(ctx, 1), 1),
    }

    def summarize(rounds: list[Round]) -> Row:
        fr = [r["flowrun"].wall for r in rounds]
        net = [r["flowrun"].wall - r["flowrun-1"].wall for r in rounds]
        ideal = [1.0 + r["flowrun-1"].wall for r in rounds]
        surv = [int(r["flowrun"].values.get("survivors", 0)) for r in rounds]
        at_exit = [int(r["flowrun"].values.get("survivors_at_exit", 0)) for r in rounds]
        ok = med(net) <= 1.1 and max(surv) == 0
        return Row(
            "timeout",
            stat(fr, fmt_s),
            stat(ideal, fmt_s),
            stat(ratios(fr, ideal), fmt_x),
            "wall - start-up ≤ 1.1 s, 0 survivors",
            verdict(ok),
            [
                f"sh -c '{script}' under timeout: 1s; floor = 1 s + flowrun's 1-step wall; "
                f"wall - start-up {stat(net, fmt_s)}",
                f"`sleep {MARKER[1]}` alive when flowrun exited: {at_exit} per run; still alive 0.5 s later "
                f"(killed by the bench): {surv}",
            ],
        )

    return Plan(variants, summarize)


SERVICE_CODE = """
import os, socket, sys, time
kind, port, mark = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def marked():
    with open(mark + ".tmp", "w") as f:
        f.write(repr(time.time()))
    os.replace(mark + ".tmp", mark)
time.sleep(0.3)  # a start-up: the probes find nothing at first
if kind == "log":
    marked()
    print("ready to serve", flush=True)
    time.sleep(1000)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(16)
marked()
while True:
    c, _ = s.accept()
    if kind == "http":
        c.recv(65536)
        c.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\nConnection: close\\r\\n\\r\\n")
    c.close()
"""


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def report_check(report: Path, want: Callable[[dict[str, dict]], dict[str, float]]) -> Callable[[Run], str | None]:
    """Read the run's --json report; ``want`` turns its steps (by name) into the values of the round."""
    import json

    def check(r: Run) -> str | None:
        try:
            steps = {s["name"]: s for s in json.loads(report.read_text())["steps"]}
            r.values.update(want(steps))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return f"cannot read {report.name}: {exc!r}"
        finally:
            report.unlink(missing_ok=True)
        return None

    return check


def case_ready_latency(ctx: Ctx) -> Plan:
    """How soon a service's dependent starts after the service can serve: tcp, http and log probes."""
    folder = ctx.tmp / "ready"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "srv.py").write_text(SERVICE_CODE)
    tcp, http = _free_port(), _free_port()
    steps = {
        "tcp": {"service": "true", "cmd": yaml_list([PY, "srv.py", "tcp", str(tcp), "tcp.mark"]),
                "ready": f'{{tcp: "127.0.0.1:{tcp}"}}'},
        "http": {"service": "true", "cmd": yaml_list([PY, "srv.py", "http", str(http), "http.mark"]),
                 "ready": f'{{http: "http://127.0.0.1:{http}/"}}'},
        "log": {"service": "true", "cmd": yaml_list([PY, "-u", "srv.py", "log", "0", "log.mark"]),
                "ready": "{log: 'ready to serve'}"},
        **{f"after-{k}": {"cmd": '["true"]', "depends_on": f"[{k}]"} for k in ("tcp", "http", "log")},
    }
    wf = write_flowrun(folder / "flowrun.yaml", steps, jobs=2)
    report = folder / "report.json"

    def latencies(by_name: dict[str, dict]) -> dict[str, float]:
        return {k: 1000 * (by_name[f"after-{k}"]["started_epoch"] - float((folder / f"{k}.mark").read_text()))
                for k in ("tcp", "http", "log")}

    v = up(ctx, wf, 2, check=report_check(report, latencies))
    v.argv += ["--json", str(report)]

    def summarize(rounds: list[Round]) -> Row:
        lat = {k: [r["flowrun"].values[k] for r in rounds] for k in ("tcp", "http", "log")}
        ok = med(lat["tcp"]) <= 300 and med(lat["http"]) <= 300 and med(lat["log"]) <= 50
        return Row(
            "ready-latency",
            f"tcp {fmt_ms(med(lat['tcp']))}, http {fmt_ms(med(lat['http']))}, log {fmt_ms(med(lat['log']))}",
            "interval 250 ms",
            "-",
            "tcp, http ≤ interval + 50 ms; log ≤ 50 ms",
            verdict(ok),
            ["from the moment the service listens (or writes its line) to its dependent's start, from the "
             "run's JSON report: " + "; ".join(f"{k} {stat(x, fmt_ms)}" for k, x in lat.items())],
        )

    return Plan({"flowrun": v}, summarize, against=False)


def case_services_50(ctx: Ctx) -> Plan:
    """50 services ready at once, one dependent each, -j 2: starting and stopping them costs little."""
    n = 50
    steps: dict[str, dict[str, str]] = {}
    for i in range(n):
        steps[f"svc{i:02d}"] = {"service": "true", "cmd": '["sleep", "1000"]'}
        steps[f"use{i:02d}"] = {"cmd": '["true"]', "depends_on": f"[svc{i:02d}]"}
    wf = write_flowrun(ctx.tmp / "services-50" / "flowrun.yaml", steps, jobs=2)
    report = wf.parent / "report.json"

    def stops(by_name: dict[str, dict]) -> dict[str, float]:
        gaps = [by_name[f"svc{i:02d}"]["ended_epoch"] - by_name[f"use{i:02d}"]["ended_epoch"] for i in range(n)]
        return {"stop": 1000 * max(gaps)}

    v = up(ctx, wf, 2, check=report_check(report, stops))
    v.argv += ["--json", str(report)]
    variants = {"flowrun": v, "flowrun-1": up(ctx, one_step(ctx, 2), 2)}

    def summarize(rounds: list[Round]) -> Row:
        fr = [r["flowrun"].wall for r in rounds]
        net = [r["flowrun"].wall - r["flowrun-1"].wall for r in rounds]
        stop = [r["flowrun"].values["stop"] for r in rounds]
        return Row(
            "services-50",
            stat(fr, fmt_s),
            "2 s + start-up",
            stat(net, fmt_s),
            "wall - start-up ≤ 2 s; stop ≤ 0.1 s",
            verdict(med(net) <= 2.0 and med(stop) <= 100),
            [f"{n} services (`sleep 1000`, no probe) with one `true` dependent each at -j 2; ratio column: "
             "wall - flowrun's 1-step wall",
             f"slowest stop (a service's end after its dependent's) {stat(stop, fmt_ms)}"],
        )

    return Plan(variants, summarize, against=False)


def case_outputs_10k(ctx: Ctx) -> Plan:
    """N steps each setting an output and N readers of one each, against the same DAG passing nothing."""
    n = 1000 if ctx.quick else 10_000

    def workflow(folder: str, outputs: bool) -> Path:
        steps: dict[str, dict[str, str]] = {}
        for i in range(n):
            write = f'echo "v={i}" >> "$FLOWRUN_OUTPUT"' if outputs else f"echo v={i} > /dev/null"
            steps[f"w{i}"] = {"run": json.dumps(write)}
        for i in range(n):
            arg = f"${{{{ steps.w{i}.outputs.v }}}}" if outputs else str(i)
            steps[f"r{i}"] = {"cmd": yaml_list(["true", arg]), "depends_on": f"[w{i}]"}
        return write_flowrun(ctx.tmp / folder / "flowrun.yaml", steps, jobs=2)

    variants = {"flowrun": rss_wrapped(up(ctx, workflow("outputs", True), 2)),
                "floor": rss_wrapped(up(ctx, workflow("no-outputs", False), 2))}

    def summarize(rounds: list[Round]) -> Row:
        rss = [r["flowrun"].values["maxrss_kb"] / 1024 for r in rounds]
        rss0 = [r["floor"].values["maxrss_kb"] / 1024 for r in rounds]
        wall, wall0 = [r["flowrun"].wall for r in rounds], [r["floor"].wall for r in rounds]
        return Row(
            "outputs-10k" + (f" [{n}]" if ctx.quick else ""),
            stat(rss, fmt_mb),
            stat(rss0, fmt_mb),
            stat(ratios(wall, wall0), fmt_x),
            "< 150 MB (max); wall ≈ the same DAG without outputs",
            verdict(bool(rss) and max(rss) < 150),
            [f"{n} steps each writing one output, {n} steps each reading one (cmd item), -j 2; floor: the same "
             "DAG, the same commands, no outputs; ratio column: wall against the floor's",
             f"walls: {stat(wall, fmt_s)} against {stat(wall0, fmt_s)}; after a warm-up run that fills the "
             "plan cache (a first run parses and validates the file: pydantic holds 20,000 steps for a while)"],
        )

    return Plan(variants, summarize, max_runs=3, against=False)


def case_schedule(ctx: Ctx) -> Plan:
    """40 x 0.1 s listed first, one 2 s step last, -j 2: the history's second run starts the long one first."""
    steps = {f"s{i:02d}": {"cmd": '["sleep", "0.1"]'} for i in range(40)}
    steps["long"] = {"cmd": '["sleep", "2"]'}
    folder = ctx.tmp / "schedule"
    wf = write_flowrun(folder / "flowrun.yaml", steps, jobs=2)

    def fresh(r: Run) -> str | None:
        """Read the two walls; every round starts with no history: its first run is the file-order one."""
        r.values.update(parse_values(r.log))
        for name in ("history.db", "history.db-wal", "history.db-shm"):
            (folder / ".flowrun" / name).unlink(missing_ok=True)
        return None if "second" in r.values else f"no walls printed: {last_lines(r.log)}"

    def first_then_second(v: Variant) -> Variant:
        script = (f"import subprocess, sys, time; cmd = {v.argv!r}; t = []\n"
                  "for _ in range(2):\n    t0 = time.perf_counter(); subprocess.run(cmd, check=True); "
                  "t.append(time.perf_counter() - t0)\nprint(f'first={t[0]!r} second={t[1]!r}')")
        return replace(v, argv=[PY, "-c", script])

    main = first_then_second(up(ctx, wf, 2))
    main.check = fresh
    variants = {"flowrun": main, "flowrun-1": up(ctx, one_step(ctx, 2), 2)}

    def summarize(rounds: list[Round]) -> Row:
        first = [r["flowrun"].values["first"] for r in rounds]
        second = [r["flowrun"].values["second"] for r in rounds]
        bound = [3.0 + r["flowrun-1"].wall for r in rounds]
        return Row(
            "schedule",
            f"first {stat(first, fmt_s)}, second {stat(second, fmt_s)}",
            stat(bound, fmt_s),
            stat(ratios(second, bound), fmt_x),
            "second run ≤ 1.05x (3 s + start-up)",
            verdict(med(ratios(second, bound)) <= 1.05),
            ["40 x sleep 0.1 listed first, sleep 2 last, -j 2: 6 s of work on 2 slots, so 3 s at best; the first "
             "run (no history) keeps file order, the second starts the 2 s step first (history durations)"],
        )

    return Plan(variants, summarize, against=False)


GO_TASKFILE = """version: '3'
tasks:
  checksum: {method: checksum, sources: ["src/**/*"], cmds: ["true"]}
  timestamp: {method: timestamp, sources: ["src/**/*"], cmds: ["true"]}
  plain: {cmds: ["true"]}
"""


def go_task() -> str | None:
    """go-task's ``task``: $FLOWRUN_BENCH_TASK, else on PATH, else the peers harness's venv (../shared/bench)."""
    named = os.environ.get("FLOWRUN_BENCH_TASK")
    if named:
        return named
    found = shutil.which("task")
    if found:
        return found
    peers = Path("/tmp/peers-venv/bin/task")
    return str(peers) if peers.exists() else None


def case_uptodate(ctx: Ctx) -> Plan:
    """A cached step over 10,000 source files (~100 MB): the check against git status --porcelain and go-task."""
    n = 1000 if ctx.quick else 10_000
    folder = ctx.tmp / "uptodate"
    tree = folder / "src"
    for i in range(n):
        sub = tree / f"d{i % 100:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i}.txt").write_bytes(os.urandom(10_000))
        os.utime(sub / f"f{i}.txt", (time.time() - 3600, time.time() - 3600))  # not "racy": old enough to trust
    wf = write_flowrun(folder / "flowrun.yaml", {"build": {"cmd": '["true"]', "sources": '["src/**"]'}}, jobs=2)
    wf1 = write_flowrun(folder / "one" / "flowrun.yaml", {"build": {"cmd": '["true"]'}}, jobs=2)
    task = go_task()
    if task:
        (folder / "Taskfile.yml").write_text(GO_TASKFILE)
    for argv in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "-c", "user.email=b@b", "-c", "user.name=b",
                                                                "commit", "-qm", "tree"]):
        subprocess.run(argv, cwd=folder, check=True, capture_output=True)
    cached = up(ctx, wf, 2, check=lambda r: None if r.rc == 0 else "failed")
    cached.workdir = None  # keep the history: every timed run is the cached one (the warm-up made it)
    variants = {"flowrun": cached, "flowrun-1": up(ctx, wf1, 2),
                "git": Variant(["git", "status", "--porcelain"], folder)}
    if task:  # the warm-up round records go-task's checksums / timestamps: every timed run is up to date
        for name in ("checksum", "timestamp", "plain"):
            variants[f"task-{name}"] = Variant([task, "--silent", name], folder)

    def summarize(rounds: list[Round]) -> Row:
        check = [r["flowrun"].wall - r["flowrun-1"].wall for r in rounds]
        git = [r["git"].wall for r in rounds]
        notes = [f"a step with sources: over {n} files of 10 kB, on its cached run: wall - the wall of the same "
                 "one-step file without sources; floor: git status --porcelain on the same tree (both warm)"]
        ok = med(ratios(check, git)) <= 2.0
        target = "≤ 2x git status --porcelain"
        if task:
            target += ", < go-task's check"
            for method in ("checksum", "timestamp"):
                theirs = [r[f"task-{method}"].wall - r["task-plain"].wall for r in rounds]
                ok = ok and med(ratios(check, theirs)) < 1.0  # round by round, as every ratio here
                notes.append(f"go-task method: {method}, up to date: {stat(theirs, fmt_s)} over a task without "
                             f"sources; flowrun's check is {stat(ratios(check, theirs), fmt_x)} of it")
        else:
            notes.append("go-task not found (FLOWRUN_BENCH_TASK, PATH, /tmp/peers-venv/bin/task): "
                         "its comparison is skipped")
        return Row(
            "uptodate" + (f" [{n}]" if ctx.quick else ""),
            stat(check, fmt_s),
            stat(git, fmt_s),
            stat(ratios(check, git), fmt_x),
            target,
            verdict(ok),
            notes,
        )

    return Plan(variants, summarize, against=False)


def case_complete(ctx: Ctx) -> Plan:
    """`flowrun __complete targets` (what a shell's TAB runs) on a 1,000-step file with its plan cached."""
    n = 1000
    wf = write_flowrun(ctx.tmp / "complete" / "flowrun.yaml", random_dag(n, seed=1000), jobs=2)

    def all_names(r: Run) -> str | None:  # the log keeps a tail only: the names end with the last step's
        words = r.log.split()
        return None if r.rc == 0 and words[-1:] == [f"s{n - 1}"] else f"not every name: {last_lines(r.log)}"

    # the warm-up round's miss loads the file once and keeps its plan: every timed run is a hit
    variants = {"flowrun": Variant([*ctx.flowrun, "__complete", "targets", "-f", str(wf)], wf.parent,
                                   check=all_names),
                "floor": Variant([PY, "-c", "pass"], wf.parent)}

    def summarize(rounds: list[Round]) -> Row:
        fr = [r["flowrun"].wall * 1000 for r in rounds]
        fl = [r["floor"].wall * 1000 for r in rounds]
        return Row(
            "complete-1k",
            stat(fr, fmt_ms),
            stat(fl, fmt_ms),
            stat(ratios(fr, fl), fmt_x),
            "< 150 ms",
            verdict(med(fr) < 150),
            [f"flowrun __complete targets -f FILE ({n} steps, plan cached), whole process; floor: python -c pass"],
        )

    return Plan(variants, summarize, against=False)


def log_size_check(folder: Path, step: str, want: int) -> Callable[[Run], str | None]:
    def check(r: Run) -> str | None:
        logs = list((folder / ".flowrun").glob(f"runs/*/{step}.log"))
        size = logs[0].stat().st_size if logs else None
        return None if size == want else f"{step}.log holds {size} bytes, expected {want}"

    return check


def rss_wrapped(v: Variant) -> Variant:
    """v run under RSS_WRAPPER, which prints the peak RSS of its only child."""

    def check(r: Run) -> str | None:
        r.values.update(parse_values(r.log))
        if "maxrss_kb" not in r.values:
            return f"the RSS wrapper printed nothing: {last_lines(r.log)}"
        return v.check(r) if v.check else None

    return replace(v, argv=[PY, "-c", RSS_WRAPPER, *v.argv], check=check)


def rss_case(name: str, kind: str) -> Callable[[Ctx], Plan]:
    """Peak RSS of flowrun (RSS_WRAPPER) while one step writes N bytes to its log, or many steps run."""

    def build(ctx: Ctx) -> Plan:
        if kind == "log":
            nbytes = 128 * MB if ctx.quick else GIB
            wf = write_flowrun(
                ctx.tmp / name / "flowrun.yaml",
                {"big": {"cmd": yaml_list(["head", "-c", str(nbytes), "/dev/zero"])}},
                jobs=2,
            )
            what = f"one step writing {nbytes // MB} MiB to stdout (captured to its log)"
            main = up(ctx, wf, 2, check=log_size_check(wf.parent, "big", nbytes))
        else:
            n = 1000 if ctx.quick else 10_000
            wf = write_flowrun(ctx.tmp / name / "flowrun.yaml", random_dag(n, seed=10_000), jobs=2)
            what = f"{n} `true` steps (the load-10k DAG) at -j 2"
            main = up(ctx, wf, 2)
        variants = {"flowrun": rss_wrapped(main), "floor": rss_wrapped(Variant([PY, "-c", IMPORT_FLOOR], ctx.tmp))}

        def summarize(rounds: list[Round]) -> Row:
            fr = [r["flowrun"].values["maxrss_kb"] / 1024 for r in rounds]
            fl = [r["floor"].values["maxrss_kb"] / 1024 for r in rounds]
            walls = [r["flowrun"].wall for r in rounds]
            label = name if not ctx.quick else f"{name} [quick]"
            return Row(
                label,
                stat(fr, fmt_mb),
                stat(fl, fmt_mb),
                stat(ratios(fr, fl), fmt_x),
                "< 100 MB (max)",
                verdict(bool(fr) and max(fr) < 100),
                [
                    f"{what}; peak RSS: getrusage(RUSAGE_CHILDREN) in a wrapper running only flowrun",
                    f"floor: python -c '{IMPORT_FLOOR}', same wrapper",
                    f"flowrun wall {stat(walls, fmt_s)}",
                    *noise_note(rounds),
                ],
            )

        return Plan(variants, summarize, warmup=(kind == "log"), max_runs=None if kind == "log" else 3)

    return build


# ---------------------------------------------------------------- dask cases
class SkipCase(Exception):
    """A case that cannot run here (what it needs is missing): its row says SKIP and why."""


DASK_FLOOR_CODE = r"""
import subprocess, sys, time
from distributed import Client, as_completed

def true(i):
    return subprocess.run(["true"]).returncode

n, inflight = int(sys.argv[2]), int(sys.argv[3])
client = Client(sys.argv[1])
t0 = time.perf_counter()
queue = as_completed([client.submit(true, i, pure=False) for i in range(min(n, inflight))])
sent = min(n, inflight)
for future in queue:
    assert future.result() == 0
    if sent < n:
        queue.add(client.submit(true, sent, pure=False))
        sent += 1
print(f"seconds={time.perf_counter() - t0!r} steps={n}")
client.close()
"""

DASK_LATENCY_READER = r"""
import re, statistics, subprocess, sys, time
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, text=True)
late = []
for line in proc.stdout:
    now = time.time()
    m = re.search(r"t=([0-9.]+)", line)
    if m:
        late.append(now - float(m.group(1)))
rc = proc.wait()
print(f"latency_ms={1000 * statistics.median(late) if late else -1!r} worst_ms={1000 * max(late or [0])!r} "
      f"lines={len(late)}")
sys.exit(rc)
"""

_dask_cluster: str | None = None


def dask_cluster(ctx: Ctx) -> str | None:
    """A `dask scheduler` and two `dask worker`s (one thread each) for the dask cases; None without the extra."""
    global _dask_cluster
    if _dask_cluster is not None or importlib.util.find_spec("distributed") is None:
        return _dask_cluster
    import atexit

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {k: v for k, v in ctx.env.items() if k != TOKEN_VAR}  # they outlive each run on purpose
    log = open(ctx.tmp / "dask-cluster.log", "wb")  # open as long as the cluster
    argvs = [[PY, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]]
    argvs += [[PY, "-m", "dask", "worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-dashboard"]] * 2
    procs = [subprocess.Popen(a, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
             for a in argvs]

    def stop() -> None:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)

    atexit.register(stop)
    wait = f"from distributed import Client; c = Client({address!r}, timeout=30); c.wait_for_workers(2, timeout=60)"
    subprocess.run([PY, "-c", wait], env=env, check=True, timeout=90)
    _dask_cluster = address
    return address


def dask_up(ctx: Ctx, wf: Path, jobs: int, address: str) -> Variant:
    v = up(ctx, wf, jobs)
    v.argv += ["--executor", "dask", "--scheduler", address]
    return v


def case_dask_200(ctx: Ctx) -> Plan:
    """200 `true` steps on a 2-worker cluster at -j 2, against Dask itself running `true` 200 times, 2 in flight."""
    n = 50 if ctx.quick else 200
    address = dask_cluster(ctx)
    if address is None:
        raise SkipCase("distributed is not installed (pip install 'flowrun[dask]')")
    folder = ctx.tmp / "dask-200"
    wf = write_flowrun(folder / "flowrun.yaml", {f"s{i:03d}": {"cmd": '["true"]'} for i in range(n)}, jobs=2)
    one = write_flowrun(folder / "one" / "flowrun.yaml", {"s0": {"cmd": '["true"]'}}, jobs=2)
    (folder / "floor.py").write_text(DASK_FLOOR_CODE)
    floor = [PY, str(folder / "floor.py"), address]
    variants = {
        "flowrun": dask_up(ctx, wf, 2, address),
        "flowrun-1": dask_up(ctx, one, 2, address),
        "floor": Variant([*floor, str(n), "2"], folder, env={k: v for k, v in ctx.env.items() if k != TOKEN_VAR}),
        "floor-1": Variant([*floor, "1", "2"], folder, env={k: v for k, v in ctx.env.items() if k != TOKEN_VAR}),
    }

    def summarize(rounds: list[Round]) -> Row:
        ours = [1000 * (r["flowrun"].wall - r["flowrun-1"].wall) / (n - 1) for r in rounds]
        theirs = [1000 * (r["floor"].wall - r["floor-1"].wall) / (n - 1) for r in rounds]
        ratio = med(ratios(ours, theirs))
        return Row("dask-200", stat(ours, fmt_ms), stat(theirs, fmt_ms), fmt_x(ratio), "≤ 2×", verdict(ratio <= 2.0),
                   [f"per step: ({n} steps - 1 step) / {n - 1}, start-up taken off both; the floor is a Dask "
                    "client submitting a function that runs `subprocess.run(['true'])`, 2 in flight, on the same "
                    "cluster (a scheduler and 2 one-thread workers, started once)"])

    return Plan(variants, summarize, against=False)


def case_dask_latency(ctx: Ctx) -> Plan:
    """A line printed by a step on a worker reaches flowrun's console within 0.5 s (median)."""
    address = dask_cluster(ctx)
    if address is None:
        raise SkipCase("distributed is not installed (pip install 'flowrun[dask]')")
    folder = ctx.tmp / "dask-latency"
    talk = "import time\nfor i in range(8):\n    print('t=%r' % time.time(), flush=True)\n    time.sleep(0.25)"
    wf = write_flowrun(folder / "flowrun.yaml", {"talk": {"cmd": yaml_list([PY, "-c", talk.replace("\n", "\\n")])}},
                       jobs=1)
    (folder / "reader.py").write_text(DASK_LATENCY_READER)
    v = dask_up(ctx, wf, 1, address)
    v.argv = [PY, str(folder / "reader.py"), *[a for a in v.argv if a != "-q"]]
    v.check = lambda r: (r.values.update(parse_values(r.log)), None)[1] if "latency_ms=" in r.log else "no figure"

    def summarize(rounds: list[Round]) -> Row:
        lat = [r["flowrun"].values["latency_ms"] for r in rounds]
        worst = max(r["flowrun"].values["worst_ms"] for r in rounds)
        return Row("dask-latency", stat(lat, fmt_ms), "-", "-", "median ≤ 500 ms", verdict(med(lat) <= 500),
                   [f"from a step's print on a worker to the line on flowrun's stdout (8 lines a run; the "
                    f"median per run, then over runs); worst line {fmt_ms(worst)}"])

    return Plan({"flowrun": v}, summarize, against=False)


def _wide(wl: ModuleType) -> object:
    return wl.wide(n=1000, jobs=2)


def _chain(wl: ModuleType) -> object:
    return wl.chain(n=500)


def _dag(wl: ModuleType) -> object:
    return wl.dag()  # 2000 nodes, seed 20240601: the peers' DAG


# name -> (builder, needs ../shared/bench)
CASES: dict[str, tuple[Callable[[Ctx], Plan], bool]] = {
    "load-10k": (case_load, False),
    "validate-10": (case_validate, False),
    "startup": (case_startup, False),
    "wide-j2": (step_case("wide-j2", _wide, 200), True),
    "chain-500": (step_case("chain-500", _chain, 100), True),
    "dag-2000": (step_case("dag-2000", _dag, 400), True),
    "sleepers": (case_sleepers, False),
    "pipe-2g": (pipe_case("pipe-2g", 1, 0.95), False),
    "fanout-2g": (pipe_case("fanout-2g", 2, 0.5), False),
    "timeout": (case_timeout, False),
    "ready-latency": (case_ready_latency, False),
    "services-50": (case_services_50, False),
    "outputs-10k": (case_outputs_10k, False),
    "schedule": (case_schedule, False),
    "uptodate": (case_uptodate, False),
    "complete-1k": (case_complete, False),
    "portable-wide-j2": (portable_step_case("portable-wide-j2", _wide, 200), True),
    "portable-pipe-2g": (pipe_case("portable-pipe-2g", 1, 0.8, process="portable"), False),
    "portable-fanout-2g": (pipe_case("portable-fanout-2g", 2, 0.5, process="portable"), False),
    "rss-1g": (rss_case("rss-1g", "log"), False),
    "rss-10k": (rss_case("rss-10k", "steps"), False),
    "dask-200": (case_dask_200, False),
    "dask-latency": (case_dask_latency, False),
}


# ---------------------------------------------------------------------- main
def select_cases(names: list[str] | None) -> list[str]:
    """Exact names first, else every case whose name contains the word."""
    if not names:
        return list(CASES)
    out: list[str] = []
    for n in names:
        hits = [c for c in CASES if c == n] or [c for c in CASES if n in c]
        if not hits:
            raise SystemExit(f"no case matches {n!r}; cases: {', '.join(CASES)}")
        out += [c for c in hits if c not in out]
    return [c for c in CASES if c in out]  # always in suite order


def shared_modules() -> tuple[ModuleType | None, Path | None]:
    """../shared/bench's workloads module and floors.py, or (None, None) with a message."""
    floors = SHARED / "floors.py"
    if not (floors.is_file() and (SHARED / "workloads.py").is_file()):
        print(
            f"note: {SHARED} (../shared/bench beside the project root) not found: wide-j2, chain-500 and "
            "dag-2000 need its floors.py and workloads.py and are skipped.",
            file=sys.stderr,
        )
        return None, None
    sys.path.insert(0, str(SHARED))
    try:
        return importlib.import_module("workloads"), floors
    finally:
        sys.path.remove(str(SHARED))


def flowrun_command() -> list[str]:
    script = Path(PY).parent / "flowrun"
    if script.is_file():
        return [str(script)]
    found = shutil.which("flowrun")
    return [found] if found else [PY, "-m", "flowrun"]


def run_case(name: str, ctx: Ctx) -> Row:
    build, needs_shared = CASES[name]
    if needs_shared and ctx.floors is None:
        return Row(name, result="SKIP", notes=["../shared/bench/floors.py not found"])
    try:
        plan = build(ctx)
    except SkipCase as why:
        return Row(name, result="SKIP", notes=[str(why)])
    if ctx.against is not None and plan.against:
        _add_against(plan, ctx)
    notes: list[str] = []
    busy = _other_work()
    if busy >= 0.25:
        notes.append(f"other work on the machine: {busy:.1f} runnable tasks on average besides the bench, "
                     "just before the case; it slows flowrun's per-step figures more than the floor's "
                     "(flowrun's own process needs more CPU per step)")
    rounds, error = measure(plan, ctx, notes)
    if error:
        row = plan.summarize(rounds) if rounds else Row(name)
        row.result, row.notes = "FAIL", [*row.notes, f"error: {error}"]
        return row
    row = plan.summarize(_own(rounds))
    row.notes += notes
    if ctx.against is not None and plan.against:
        ref = plan.summarize(_theirs(rounds))
        row.notes.append(f"same rounds, flowrun at {ctx.against[0]}: {ref.flowrun} | floor {ref.floor} | "
                         f"ratio {ref.ratio} | {ref.result}")
    leftovers = sum(int(r.values.get("leftovers", 0)) for rnd in rounds for r in rnd.values())
    if leftovers:
        row.notes.append(f"{leftovers} processes outlived their run (killed by the bench)")
    return row


_REF = "@ref"


def _add_against(plan: Plan, ctx: Ctx) -> None:
    """Every flowrun variant again, running the --against commit's code, in the same rounds."""
    assert ctx.against is not None
    extra = {label + _REF: _own_folder(replace(v, env=ctx.against[1])) for label, v in plan.variants.items()
             if v.argv[: len(ctx.flowrun)] == ctx.flowrun}
    plan.variants = {**plan.variants, **extra}  # a new dict: summarize() knows the case's own variants


def _own_folder(v: Variant) -> Variant:
    """The variant on a copy of its workflow folder: each commit keeps its own plan cache
    (sharing one, each run of either would find the other's and load the file again). Not for
    a variant whose check reads a file the run writes in its folder (the pipe cases)."""
    if v.workdir is None or v.check is not None:
        return v
    old, new = str(v.workdir), str(v.workdir) + _REF
    if not os.path.isdir(new):
        shutil.copytree(old, new, ignore=shutil.ignore_patterns(".flowrun"))
    argv = [new + a[len(old):] if a == old or a.startswith(old + os.sep) else a for a in v.argv]
    return replace(v, argv=argv, cwd=Path(new) if str(v.cwd) == old else v.cwd, workdir=Path(new))


def _own(rounds: list[Round]) -> list[Round]:
    return [{k: r for k, r in rnd.items() if not k.endswith(_REF)} for rnd in rounds]


def _theirs(rounds: list[Round]) -> list[Round]:
    """The rounds with the --against runs standing in for flowrun's own."""
    return [{k: rnd.get(k + _REF, r) for k, r in rnd.items() if not k.endswith(_REF)} for rnd in rounds]


def checkout(ref: str, tmp: Path) -> tuple[str, dict[str, str]]:
    """A worktree of ``ref``, compiled; the environment whose PYTHONPATH makes flowrun's script run it."""
    import compileall

    folder = tmp / "against"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--force", str(folder), ref],
                   check=True, capture_output=True)
    compileall.compile_dir(str(folder / "flowrun"), quiet=1)
    commit = subprocess.run(["git", "-C", str(folder), "rev-parse", "--short", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    return f"{ref} ({commit})", {"PYTHONPATH": str(folder)}


def _other_work(samples: int = 20, interval: float = 0.01) -> float:
    """Runnable tasks other than this one, averaged over a short idle moment (0.0 where unknown)."""
    counts = []
    for _ in range(samples):
        try:
            with open("/proc/stat", "rb") as handle:
                line = next(x for x in handle if x.startswith(b"procs_running"))
            counts.append(int(line.split()[1]) - 1)  # the reading process itself runs
        except (OSError, StopIteration, ValueError):
            return 0.0
        time.sleep(interval)
    return sum(counts) / len(counts)


COLUMNS = ("case", "flowrun", "floor", "ratio", "target", "result")


def print_table(rows: list[Row]) -> None:
    cells = [list(COLUMNS)] + [[getattr(r, c) for c in COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    for i, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


def print_row(row: Row, seconds: float) -> None:
    print(
        f"== {row.case}: {row.result}  flowrun {row.flowrun or '-'} | floor {row.floor or '-'} | "
        f"ratio {row.ratio or '-'} | target {row.target or '-'}  ({seconds:.0f} s)",
        flush=True,
    )
    for n in row.notes:
        print(f"   {n}", flush=True)


def _compile_flowrun() -> None:
    """Byte-compile flowrun first, as ``pip install`` does: with PYTHONDONTWRITEBYTECODE
    set (or a read-only checkout) every flowrun start would otherwise recompile its
    sources, a cost no installed tool pays."""
    import compileall

    import flowrun

    compileall.compile_dir(os.path.dirname(flowrun.__file__), quiet=1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", metavar="NAME", help=f"cases to run (default all): {', '.join(CASES)}")
    ap.add_argument("--runs", type=int, help="timed runs per case (default 5; 2 with --quick)")
    ap.add_argument("--quick", action="store_true", help="smoke run: fewer runs, smaller workloads")
    ap.add_argument(
        "--budget",
        type=float,
        default=60.0,
        help="seconds of timed rounds a case may take; slower cases get fewer runs (not below 3)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder of generated workflows")
    ap.add_argument("--against", metavar="REF",
                    help="also time flowrun at this git commit in the same rounds (e.g. HEAD~1)")
    args = ap.parse_args(argv)
    if importlib.util.find_spec("flowrun") is None:  # not imported: the bench stays small
        raise SystemExit(f"flowrun is not importable by {PY}: run this with the venv flowrun is installed in")
    _compile_flowrun()
    names = select_cases(args.only)
    wl, floors = shared_modules()
    token = uuid.uuid4().hex
    env = {**os.environ, TOKEN_VAR: token}
    tmp = Path(tempfile.mkdtemp(prefix="flowrun-bench-"))
    runs = args.runs or (2 if args.quick else 5)
    ctx = Ctx(tmp, runs, args.quick, args.budget, env, token, flowrun_command(), wl, floors)
    if args.against:
        label, extra = checkout(args.against, tmp)
        ctx.against = (label, {**env, **extra})
    print(
        f"flowrun bench: {runs} runs per case after a warm-up round, {os.cpu_count()} CPUs, python {PY}, folder {tmp}",
        flush=True,
    )
    rows = []
    try:
        for name in names:
            t0 = time.perf_counter()
            row = run_case(name, ctx)
            print_row(row, time.perf_counter() - t0)
            rows.append(row)
    except KeyboardInterrupt:
        kill_pids(pid for pid, _ in token_pids(token))  # the run under way is in its own session
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            if ctx.against is not None:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tmp / "against")],
                               capture_output=True)
            shutil.rmtree(tmp, ignore_errors=True)
    print()
    print_table(rows)
    return 1 if any(r.result == "FAIL" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
