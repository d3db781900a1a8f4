"""Which file to read (no yaml, no pydantic: a cached plan needs only this)."""

from __future__ import annotations

import os

from flowrun.errors import Diagnostic, Position, WorkflowError, WorkflowNotFound

__all__ = ["DEFAULT_FILES", "MAX_FILE_BYTES", "find_workflow", "read_workflow"]

DEFAULT_FILES = ("flowrun.yaml", "flowrun.yml")
MAX_FILE_BYTES = 16 * 1024 * 1024


def find_workflow(path: str | os.PathLike[str] | None = None, cwd: str | None = None) -> str:
    """The file to read: ``path`` if given, else flowrun.yaml / flowrun.yml in ``cwd``."""
    if path is not None:
        path = os.fspath(path)
        if os.path.isdir(path):
            return find_workflow(None, path)
        if not os.path.isfile(path):
            raise WorkflowNotFound([path])
        return path
    folder = cwd or os.getcwd()
    tried = []
    for name in DEFAULT_FILES:
        candidate = os.path.join(folder, name)
        if os.path.isfile(candidate):
            return candidate if cwd else name
        tried.append(candidate if cwd else name)
    raise WorkflowNotFound(tried)


def read_workflow(file: str) -> bytes:
    """The file's bytes (at most 16 MiB); a WorkflowError if it cannot be read."""
    try:
        with open(file, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise WorkflowError([Diagnostic(Position(file), f"cannot read the file: {exc.strerror}")]) from None
    if len(data) > MAX_FILE_BYTES:
        raise WorkflowError([Diagnostic(Position(file), "file is larger than 16 MiB")])
    return data
