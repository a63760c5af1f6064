"""The HTTP API and dashboard (FastAPI): thin, validates then talks to workflows."""
