"""/api/resolution-reasons: the workspace's root causes a resolved ticket names (admins write, everyone signed in reads)."""
