"""Persistence: SQLAlchemy schema, engine and queries for the read model."""
