"""Workspaces: the unit that owns segments, surveys, rules and tickets."""
