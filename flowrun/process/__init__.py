"""Spawning steps as child processes: the executor seam and its local implementation."""

from flowrun.process.executor import (
    CAPTURE,
    MERGE_INTO_STDOUT,
    Executor,
    FileSink,
    FileSource,
    LaunchSpec,
    MemberOutcome,
    PipelineHandle,
    PipelineSink,
    PipelineSpec,
    StepEnv,
    StepSource,
    TextSource,
)

__all__ = [
    "CAPTURE",
    "MERGE_INTO_STDOUT",
    "Executor",
    "FileSink",
    "FileSource",
    "LaunchSpec",
    "MemberOutcome",
    "PipelineHandle",
    "PipelineSink",
    "PipelineSpec",
    "StepEnv",
    "StepSource",
    "TextSource",
]
