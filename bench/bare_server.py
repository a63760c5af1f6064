"""The bare side of bench.updates: the workers of its raw and floor baselines
and the floor's one-route HTTP API. bench.updates runs them in its own
process, or, with --processes, starts this module as a process of its own, as
it starts cxloop's worker and API:

    .venv/bin/python -m bench.bare_server --temporal HOST:PORT --raw-queue Q
        --floor-queue F --port P

It serves until SIGTERM; `GET /healthz` answers once both workers run.
"""

from __future__ import annotations

import argparse
import asyncio

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from bench.bare_workflow import BareWorkflow, FloorChange, floor_projection


class FloorPatch(BaseModel):
    priority: str
    comment: str


def floor_app(temporal: Client) -> FastAPI:
    """One route that sends its body to the floor update (or, with
    design=false, the bare one): the HTTP part of a PATCH with nothing of
    cxloop's around it."""
    app = FastAPI()

    @app.patch("/floor/{workflow_id}")
    async def patch(workflow_id: str, body: FloorPatch, design: bool = True) -> FloorPatch:
        handle = temporal.get_workflow_handle(workflow_id)
        if design:
            change = FloorChange(body.priority, upsert=True, local_activity=True)
            value = await handle.execute_update(BareWorkflow.set_value_floor, change)
        else:
            value = await handle.execute_update(BareWorkflow.set_value, body.priority)
        return FloorPatch(priority=value, comment=body.comment)

    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    return app


def bare_workers(temporal: Client, raw_queue: str, floor_queue: str) -> tuple[Worker, Worker]:
    """The raw baseline's worker and the floor's."""
    # The baseline as it always was: the SDK's default runner (its sandbox,
    # about 0.6 ms of CPU per bare update on this machine).
    raw = Worker(temporal, task_queue=raw_queue, workflows=[BareWorkflow])
    # The floor runs as cxloop's worker does, without the sandbox.
    floor = Worker(
        temporal,
        task_queue=floor_queue,
        workflows=[BareWorkflow],
        activities=[floor_projection],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    return raw, floor


async def serve(args: argparse.Namespace) -> None:
    temporal = await Client.connect(args.temporal, data_converter=pydantic_data_converter)
    raw, floor = bare_workers(temporal, args.raw_queue, args.floor_queue)
    config = uvicorn.Config(
        floor_app(temporal), host="127.0.0.1", port=args.port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    async with raw, floor:
        # uvicorn's own handlers turn SIGTERM into a graceful exit.
        await server.serve()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--temporal", required=True, help="the dev server's HOST:PORT")
    parser.add_argument("--raw-queue", required=True)
    parser.add_argument("--floor-queue", required=True)
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
