"""Rendering runs: console output, per-step logs, summaries and report files."""
