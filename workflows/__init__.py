"""Temporal workflows: orchestration only, deterministic, time from workflow.now()."""
