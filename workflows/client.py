"""How the rest of cxloop reaches Temporal: one client setup, with the pydantic
data converter that every workflow and activity payload relies on."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter


async def connect(address: str, namespace: str = "default") -> Client:
    return await Client.connect(address, namespace=namespace, data_converter=pydantic_data_converter)
