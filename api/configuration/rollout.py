"""After any configuration change: bring it to the workspace's running tickets."""

from __future__ import annotations

from api.deps import Services
from workflows.rollout import CONFIGURATION_CHANGED, PolicyRolloutWorkflow, rollout_workflow_id


async def request_rollout(services: Services, workspace_id: str) -> None:
    """Signal-with-start the workspace's roll-out: a running one makes one more
    pass; otherwise a new one starts. Returns once Temporal has it."""
    await services.temporal.start_workflow(
        PolicyRolloutWorkflow.run,
        workspace_id,
        id=rollout_workflow_id(workspace_id),
        task_queue=services.settings.task_queue,
        start_signal=CONFIGURATION_CHANGED,
    )
