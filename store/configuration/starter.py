"""A first run: the starter workspace `default` and its segment `general`."""

from __future__ import annotations

from sqlalchemy import Engine

from store.configuration.segments import create_segment
from store.configuration.workspaces import create_workspace, list_workspaces


STARTER_WORKSPACE_ID = "default"
STARTER_SEGMENT = "general"


def ensure_starter_workspace(engine: Engine) -> bool:
    """On an empty read model, create the workspace `default` with one segment,
    `general`, so that a first `make run` can take tickets at once. Returns
    True when it created them; a configured database is left as it is."""
    if list_workspaces(engine):
        return False
    create_workspace(engine, "Default", STARTER_WORKSPACE_ID)
    create_segment(engine, STARTER_WORKSPACE_ID, STARTER_SEGMENT)
    return True
