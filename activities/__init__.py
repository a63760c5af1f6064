"""Every side effect of a ticket's life: the read model, configuration, notices."""
