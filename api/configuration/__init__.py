"""Configuration over HTTP: workspaces, segments and managers, surveys,
escalation rules, users. Admin only (issue 7 adds the check)."""
