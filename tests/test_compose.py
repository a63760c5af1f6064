"""docker-compose.yml and the Dockerfile, proven as far as this machine allows.

There is no Docker engine here, so nothing is built or started. Debian's
docker-compose validates and resolves the file (`config`), and the tests read
the resolved file for the facts the deployment rests on: the services, their
start order and health checks, a worker that scales, the search attributes,
settings that exist and come from the environment. The parts that run inside
the containers run here on real servers: the Temporal setup script against the
dev server, the worker's health check beside a polling worker, the migrate
command against both databases. Without docker-compose the tests fail (`.ci/run`
installs it).
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from settings import Settings
from store.db import current_revision
from tests.api_fixtures import eventually
from worker import build_worker
from workflows.ticket import SEARCH_ATTRIBUTES

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
# Where the venv's `python` and `temporal` live, for the commands run here.
VENV_BIN = Path(sys.executable).parent

ONE_SHOT = {"temporal-schema", "temporal-setup", "migrate"}
LONG_RUNNING = {"temporal-db", "temporal", "temporal-ui", "read-model-db", "api", "worker", "mail-sink"}
SETTING_NAMES = {f"CXLOOP_{name.upper()}" for name in Settings.model_fields}

# `docker-compose config`'s services, by name.
Services = dict[str, dict[str, Any]]


def docker_compose() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        pytest.fail("docker-compose is missing: `apt-get install -y docker-compose` (.ci/run does it)")
    return path


def run_compose_config(*args: str, environment: Mapping[str, str] = {}) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` on the defaults alone: the caller's CXLOOP_* and
    other variables, and an `.env` file beside docker-compose.yml, are left out
    unless given in `environment`."""
    base = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LANG")}
    with tempfile.TemporaryDirectory() as scratch:
        no_variables = Path(scratch) / "empty.env"
        no_variables.touch()
        return subprocess.run(
            [docker_compose(), "--file", str(COMPOSE_FILE), "--env-file", str(no_variables),
             "--project-name", "cxloop", "config", *args],
            env={**base, **environment}, capture_output=True, text=True, timeout=60,
        )


def resolved_services(environment: Mapping[str, str] = {}) -> Services:
    result = run_compose_config(environment=environment)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


@pytest.fixture(scope="module")
def services() -> Services:
    return resolved_services()


def cli_type(value_type_name: str) -> str:
    """The temporal CLI's name of an indexed value type: KEYWORD_LIST -> KeywordList."""
    words = value_type_name.removeprefix("INDEXED_VALUE_TYPE_").split("_")
    return "".join(word.capitalize() for word in words)


def search_attributes_registered(services: Services) -> dict[str, str]:
    pairs = services["temporal-setup"]["environment"]["SEARCH_ATTRIBUTES"].split()
    return dict(pair.split("=", 1) for pair in pairs)


def test_compose_file_is_valid() -> None:
    result = run_compose_config("--quiet")
    assert result.returncode == 0, result.stderr
    # An unset variable without a default is only a warning: it must not happen.
    assert "WARNING" not in result.stderr, result.stderr


def test_services(services: Services) -> None:
    assert set(services) == ONE_SHOT | LONG_RUNNING
    assert services["temporal"]["image"].startswith("temporalio/server:")
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")
    for setup in ("temporal-schema", "temporal-setup"):
        assert services[setup]["image"].startswith("temporalio/admin-tools:")
    # One image for every cxloop process, told apart by the command.
    cxloop = {name: services[name] for name in ("migrate", "api", "worker", "mail-sink")}
    assert {service["image"] for service in cxloop.values()} == {services["api"]["image"]}
    assert all(service["build"]["context"] == str(REPO) for service in cxloop.values())
    assert services["api"]["command"][:2] == ["uvicorn", "api.app:app"]
    assert services["worker"]["command"] == ["python", "worker.py"]
    assert "python -m store.db upgrade" in " ".join(services["migrate"]["command"])
    # Temporal and the read model on PostgreSQL servers of their own.
    assert services["temporal"]["environment"]["POSTGRES_SEEDS"] == "temporal-db"
    assert "@read-model-db:5432/" in services["api"]["environment"]["CXLOOP_DATABASE_URL"]


def test_worker_scales(services: Services) -> None:
    # `--scale worker=3` needs three names and must not claim one host port thrice.
    assert not services["worker"].get("ports")
    assert not [name for name, service in services.items() if "container_name" in service]


def test_every_long_running_service_has_a_health_check(services: Services) -> None:
    for name in LONG_RUNNING:
        assert services[name]["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
        assert services[name]["restart"] == "unless-stopped", name
    for name in ONE_SHOT:
        # A one-shot that restarted after succeeding would never count as completed.
        assert services[name].get("restart", "no") in ("no", "on-failure:5"), name
    assert "http://127.0.0.1:8000/healthz" in " ".join(services["api"]["healthcheck"]["test"])
    for database in ("temporal-db", "read-model-db"):
        assert "pg_isready" in services[database]["healthcheck"]["test"]
    assert services["worker"]["healthcheck"]["test"][1:] == ["python", "deploy/worker_health.py"]


def test_start_order(services: Services) -> None:
    for name, service in services.items():
        for dependency, how in service.get("depends_on", {}).items():
            condition = how["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[dependency], (name, dependency)
            else:
                assert condition == "service_completed_successfully", (name, dependency)
                assert dependency in ONE_SHOT, (name, dependency)
    completed = "service_completed_successfully"
    assert services["temporal"]["depends_on"]["temporal-schema"]["condition"] == completed
    assert services["temporal-setup"]["depends_on"]["temporal"]["condition"] == "service_healthy"
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == completed
        assert services[name]["depends_on"]["temporal-setup"]["condition"] == completed


def test_search_attributes_are_those_the_ticket_workflow_upserts(services: Services) -> None:
    expected = {key.name: cli_type(key.indexed_value_type.name) for key in SEARCH_ATTRIBUTES}
    assert search_attributes_registered(services) == expected
    assert set(expected) >= {"TicketStatus", "TicketPriority", "TicketSegment", "TicketOwner", "SurveyId"}


def test_cxloop_variables_are_settings(services: Services) -> None:
    for name, service in services.items():
        environment = service.get("environment", {})
        cxloop = {key: value for key, value in environment.items() if key.startswith("CXLOOP_")}
        assert set(cxloop) <= SETTING_NAMES, (name, set(cxloop) - SETTING_NAMES)
        # The defaults are valid values of their settings too.
        Settings(**{key.removeprefix("CXLOOP_").lower(): value for key, value in cxloop.items()})
    assert {"CXLOOP_TEMPORAL_ADDRESS", "CXLOOP_DATABASE_URL", "CXLOOP_TASK_QUEUE"} <= set(
        services["worker"]["environment"]
    )


def test_settings_come_from_the_environment(services: Services) -> None:
    used = {key for service in services.values() for key in service.get("environment", {})} & SETTING_NAMES
    overridden = resolved_services({key: f"from-env-{key.lower()}" for key in used})
    for name, service in overridden.items():
        for key, value in service.get("environment", {}).items():
            if key in used:
                assert value == f"from-env-{key.lower()}", (name, key)
    # Temporal's own tools follow cxloop's address and namespace.
    setup, ui = overridden["temporal-setup"]["environment"], overridden["temporal-ui"]["environment"]
    assert setup["TEMPORAL_ADDRESS"] == ui["TEMPORAL_ADDRESS"] == "from-env-cxloop_temporal_address"
    assert setup["TEMPORAL_NAMESPACE"] == "from-env-cxloop_temporal_namespace"


def test_mounted_files_are_in_the_repository(services: Services) -> None:
    mounted = [
        volume.split(":", 1)[0]
        for service in services.values()
        for volume in service.get("volumes", [])
        if volume.startswith("/")
    ]
    assert mounted, "the Temporal services mount their scripts and configuration"
    for source in mounted:
        assert Path(source).is_file(), source
        assert Path(source).is_relative_to(REPO), source


def dockerfile_instructions() -> list[tuple[str, list[str]]]:
    """(INSTRUCTION, words) per instruction, continuation lines joined."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split()[0].upper(), line.split()[1:]) for line in lines]


def test_dockerfile_copies_what_pyproject_installs() -> None:
    instructions = dockerfile_instructions()
    copied = [source for name, words in instructions if name == "COPY" for source in words[:-1]]
    ignore_lines = (REPO / ".dockerignore").read_text().splitlines()
    ignored = [line for line in ignore_lines if line and not line.startswith("#")]
    for source in copied:
        assert list(REPO.glob(source.rstrip("/"))), f"COPY {source}: nothing in the repository"
        assert not [pattern for pattern in ignored if fnmatch.fnmatch(source.rstrip("/"), pattern)], source

    def is_copied(path: str) -> bool:
        return any(fnmatch.fnmatch(path, source.rstrip("/")) or path.startswith(source) for source in copied)

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    setuptools = project["tool"]["setuptools"]
    needed = ["pyproject.toml", project["project"]["readme"]]
    needed += [f"{module}.py" for module in setuptools["py-modules"]]
    needed += [f"{pattern.rstrip('*')}/" for pattern in setuptools["packages"]["find"]["include"]]
    # The worker's health check runs inside the image.
    needed.append("deploy/worker_health.py")
    assert [path for path in needed if not is_copied(path)] == []

    run = " ".join(" ".join(words) for name, words in instructions if name == "RUN")
    assert "pip install --no-deps ." in run, "the project itself is installed from the copied pyproject.toml"
    base = next(words[0] for name, words in instructions if name == "FROM")
    assert base in ("python:3.11-slim", "python:3.12-slim")
    user = [words[0] for name, words in instructions if name == "USER"]
    assert user and user[-1] not in ("root", "0")
    assert any(name == "CMD" for name, _ in instructions)


async def run_command(command: list[str], environment: Mapping[str, str]) -> tuple[int, str]:
    """Run a container's command here, with the venv's tools first on PATH."""
    process = await asyncio.create_subprocess_exec(
        *command, cwd=REPO,
        env={**os.environ, **environment, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode, output.decode()


async def test_temporal_setup_registers_the_search_attributes(
    services: Services, dev_server: WorkflowEnvironment
) -> None:
    setup = services["temporal-setup"]
    # The script as mounted into the admin-tools container, from this checkout.
    script = next(volume.split(":")[0] for volume in setup["volumes"] if setup["command"][0] in volume)
    namespace = f"compose-{uuid.uuid4().hex[:8]}"
    environment = {
        **setup["environment"],
        "TEMPORAL_ADDRESS": dev_server.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": namespace,
    }
    returncode, output = await run_command(["sh", script], environment)
    assert returncode == 0 and f"namespace {namespace} created" in output, output
    # Every `up` runs it again, on a cluster that has it all already.
    returncode, output = await run_command(["sh", script], environment)
    assert returncode == 0 and f"namespace {namespace} exists" in output, output

    async def listed_attributes():
        # The script saw the namespace answer; a call from another client just
        # after it was once cancelled by the busy dev server (CI, "operation
        # was canceled"): such a transient answer is asked again, bounded.
        try:
            return await dev_server.client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=namespace)
            )
        except RPCError as error:
            if error.status not in (RPCStatusCode.CANCELLED, RPCStatusCode.UNAVAILABLE):
                raise
            return None

    listed = await eventually(listed_attributes, f"the search attributes of {namespace}")
    custom = listed.custom_attributes
    registered = {name: cli_type(IndexedValueType.Name(kind)) for name, kind in custom.items()}
    assert registered == search_attributes_registered(services)


async def test_worker_health_check(services: Services, dev_server: WorkflowEnvironment) -> None:
    check = services["worker"]["healthcheck"]["test"][1:]
    check = [sys.executable if word == "python" else word for word in check]
    settings = {
        **services["worker"]["environment"],
        "CXLOOP_TEMPORAL_ADDRESS": dev_server.client.service_client.config.target_host,
        "CXLOOP_TEMPORAL_NAMESPACE": dev_server.client.namespace,
    }
    task_queue = f"compose-health-{uuid.uuid4().hex[:8]}"
    environment = {**settings, "CXLOOP_TASK_QUEUE": task_queue}

    returncode, output = await run_command(check, environment)
    assert returncode == 1 and "no worker" in output, output

    async with build_worker(dev_server.client, task_queue):
        for _ in range(20):
            returncode, output = await run_command(check, environment)
            if returncode == 0:
                break
            await asyncio.sleep(0.5)
        assert returncode == 0, output

    unreachable = {**environment, "CXLOOP_TEMPORAL_ADDRESS": "127.0.0.1:1"}
    returncode, output = await run_command(check, unreachable)
    assert returncode == 1 and "cannot ask Temporal" in output, output


async def test_migrate_command(services: Services, database_url: str) -> None:
    # Compose keeps `$$` (its escape for a literal `$`) in the resolved file.
    command = [word.replace("$$", "$") for word in services["migrate"]["command"]]
    environment = {"CXLOOP_DATABASE_URL": database_url, "CXLOOP_FIRST_ADMIN_USERNAME": "root",
                   "CXLOOP_FIRST_ADMIN_EMAIL": "root@example.com"}
    returncode, output = await run_command(command, environment)
    assert returncode == 0, output
    assert current_revision(database_url) is not None
    # A fresh database gets its first admin, whose password the log shows once.
    assert "created the first admin 'root' with password" in output
    returncode, output = await run_command(command, environment)
    assert returncode == 0 and "an admin exists already" in output, output
