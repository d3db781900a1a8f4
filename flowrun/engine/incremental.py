"""Incremental runs (SPEC §10): a step whose fingerprint matches its last success ends ``cached``.

The scheduler asks ``cached(unit, spec)`` just before a step with ``sources:``
would start (its values rendered, so the fingerprint sees what it would run):
the fingerprint covers its sources' names and bytes, its command and shell, its
``workdir``, the variables the workflow file gives it, and the result of each step
it depends on. A step's *result* is its outputs' contents when it declares
``outputs:``, else its fingerprint: a dependency that ran again but left the same
bytes leaves its dependents cached (early cutoff). ``--resume`` marks the steps
that succeeded in the last run cached without a fingerprint.
"""

from __future__ import annotations

from collections.abc import Mapping

from flowrun.engine import fingerprint as fp
from flowrun.engine.globs import expand
from flowrun.events import StepStatus
from flowrun.process.executor import LaunchSpec

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from flowrun.engine.history import History
    from flowrun.engine.scheduler import Scheduler
    from flowrun.engine.units import Unit

__all__ = ["Incremental"]

FileEntry = tuple[str, int, int, int, str]


class Incremental:
    """Fingerprints, results and cached ends of one run's steps with ``sources:``/``outputs:``."""

    def __init__(self, scheduler: Scheduler, history: History | None, *, force: bool,
                 resumed: Mapping[str, str] | None = None, given_env: Mapping[str, str] | None = None) -> None:
        self.s, self.history, self.force = scheduler, history, force
        self.resumed = dict(resumed or {})  # step -> the run it succeeded in (--resume)
        self.base_dir = scheduler.base_dir
        #: what the workflow file gives every step (dotenv, workflow env, parameters), under its own env
        self.given_env = dict(given_env or {})
        self.fingerprints: dict[str, str] = {}
        self.results: dict[str, str | None] = {}
        self.output_files: dict[str, list[FileEntry]] = {}
        self.stats: dict[str, tuple[int, int, int, str]] = {}
        self.new_stats: dict[str, tuple[int, int, int, str]] = {}
        #: step → its sources' stat cache, for the steps whose check changed it
        self.new_sets: dict[str, tuple[dict[str, tuple[int, int, int, str]], str | None]] = {}

    # -- before a start ----------------------------------------------------
    def cached(self, unit: Unit, spec: LaunchSpec) -> bool:
        """True when the step ended ``cached`` instead of starting (the scheduler records nothing else)."""
        name = spec.name
        if name in self.resumed:
            past = self.history.last_success(name) if self.history is not None else None
            self._reuse(name, past)
            self._end_cached(unit, name, f"succeeded in run {self.resumed[name]}")
            return True
        step = self.s.plan.instances[name].step
        if not step.sources:
            return False
        self.fingerprints[name] = self._fingerprint(name, spec)
        if self.force or self.history is None:
            return False
        past = self.history.last_success(name)
        if past is None or past.fingerprint != self.fingerprints[name]:
            return False
        if step.outputs:
            self._load_stats([entry[0] for entry in past.output_files])
            if not fp.outputs_unchanged(self.base_dir, past.output_files, self.stats, self.new_stats):
                return False
        self._reuse(name, past)
        self._end_cached(unit, name, "")
        return True

    def _fingerprint(self, name: str, spec: LaunchSpec) -> str:
        inst = self.s.plan.instances[name]
        step = inst.step
        digest = self._sources_digest(name, expand(self.base_dir, step.sources))
        own = spec.env.maps[0]  # type: ignore[attr-defined]
        keys = {*self.given_env, *step.env, *inst.matrix}
        env = {k: own.get(k, self.given_env.get(k, "")) for k in sorted(keys)}
        deps = {dep: self.results.get(dep) for dep in self.s.plan.dependencies(name)}
        return fp.fingerprint(command=spec.argv, workdir=step.workdir, env=env, sources_digest=digest,
                              dependency_results=deps)

    def _sources_digest(self, name: str, files: list[str]) -> str:
        """The combined digest of a step's sources, through the stat cache its last check left.

        Fast path: the same files with the same stats as recorded give the recorded
        digest. Else each file is checked against its entry and hashed if it
        changed, and the step's whole set is written back.
        """
        known = self.history.source_set(name) if self.history is not None else None
        if known is not None and known.combined is not None:
            stats = fp.stat_arrays(self.base_dir, files)
            if stats is not None and known.same_stats(files, *stats):
                return known.combined
        cache = known.entries() if known is not None else {}
        entries: dict[str, tuple[int, int, int, str]] = {}
        digest, _ = fp.digest_files(self.base_dir, files, cache, entries)
        combined = digest if len(entries) == len(files) else None  # no racy or vanished file left out
        if entries != cache or known is None or known.combined != combined:
            self.new_sets[name] = (entries, combined)
        return digest

    def _load_stats(self, paths: list[str]) -> None:
        wanted = [p for p in paths if p not in self.stats]
        if wanted and self.history is not None:
            self.stats.update(self.history.file_stats(wanted))

    def _reuse(self, name: str, past: object) -> None:
        """A cached step hands on what its last success handed on: result, outputs (§9), output files."""
        if past is None:
            return
        self.results[name] = past.result  # type: ignore[attr-defined]
        self.output_files[name] = list(past.output_files)  # type: ignore[attr-defined]
        self.fingerprints.setdefault(name, past.fingerprint)  # type: ignore[attr-defined]
        if past.outputs:  # type: ignore[attr-defined]
            self.s.dataflow.outputs[name] = dict(past.outputs)  # type: ignore[attr-defined]

    def _end_cached(self, unit: Unit, name: str, reason: str) -> None:
        record = self.s.result.steps[name]
        record.attempts = 0
        self.s.checks.cached(unit, {name: (StepStatus.CACHED, None, reason)})

    # -- after an end --------------------------------------------------------
    def ended(self, name: str, status: StepStatus) -> None:
        """A step succeeded: its result for its dependents (outputs' bytes, else its fingerprint)."""
        if status is not StepStatus.SUCCESS:
            return
        step = self.s.plan.instances[name].step
        outputs_digest = None
        if step.outputs:
            files = expand(self.base_dir, step.outputs)
            self._load_stats(files)
            outputs_digest, records, fresh = fp.record_files(self.base_dir, files, self.stats)
            self.stats.update(fresh)
            self.new_stats.update(fresh)
            self.output_files[name] = records
        self.results[name] = fp.result_of(outputs_digest, self.fingerprints.get(name))
