"""Segments: groups of customers, each with its managers and, optionally, the
business calendar escalation rules count time in."""
