"""Escalation rules: a ticket of a survey and segment that waits too long goes
to an assignee. Every change reaches the workspace's running tickets."""
