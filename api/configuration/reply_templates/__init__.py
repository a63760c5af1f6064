"""/api/reply-templates: the workspace's reusable answers (admins write, everyone signed in reads)."""
