"""The managers' dashboard: server-rendered pages on the API's own services."""
