"""Users: who owns and works tickets, and who may sign in (issue 7)."""
