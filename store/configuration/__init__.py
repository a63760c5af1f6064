"""Configuration: what the ticket workflows need of it (a workspace's policy)
and its administration (workspaces, users, segments and their managers,
surveys, escalation rules).

The administration functions are synchronous (the API runs them in a thread),
each one transaction. They refuse what the configuration cannot hold with a
`ConfigurationError`: `NotFound`, `Conflict` (a duplicate, or something still
in use) or `InvalidConfiguration` (a reference to something that does not
exist). A constraint the database enforces is checked first, for a clear
message, and the database's own refusal is translated as well, for the request
that loses a race.

A refusal's message is an English template with named {placeholders}, marked
with `N_` like a ticket's refusals (domain/commands.py), and the values that
fill it in: the API answers it in the reader's language (api/errors.py).

Each kind of configuration has a module of its own:

- `policy.py`: what the ticket workflows read: `load_policy` (a workspace's
  `TicketPolicy`), `workspace_revision`, and `segment_calendar` and `rule_of`,
  which turn rows into the domain's calendar and escalation rule.
- `common.py`: the refusals (`ConfigurationError`, `NotFound`, `Conflict`,
  `InvalidConfiguration`, `Phrase`) and the private helpers the other modules
  share: sessions (`_reading`, `_writing`), lookups (`_get`, `_workspace`,
  `_count`, `_segment_exists`), `_refuse_fields` and `_bump_revision`. It
  imports no other module of the package.
- `workspaces.py`: `list_workspaces`, `get_workspace`, `create_workspace`,
  `update_workspace`, `delete_workspace`.
- `users.py`: `list_users`, `get_user`, `create_user`, `update_user` (any of
  `USER_FIELDS`; `active: False` deactivates), `delete_user`.
- `segments.py`: segments and their managers: `ManagerEntry`, `SegmentConfig`,
  `list_segments`, `get_segment`, `create_segment`, `update_segment` (any of
  `SEGMENT_FIELDS`), `replace_segment_managers`, `delete_segment`.
- `surveys.py`: `list_surveys`, `get_survey`, `create_survey` (with
  `DEFAULT_FIELD_MAPPING`), `update_survey` (any of `SURVEY_FIELDS`; a field
  mapping names only `MAPPED_FIELDS`), `rotate_webhook_secret`,
  `question_keys`, `delete_survey`.
- `rules.py`: escalation rules: `list_escalation_rules`, `get_escalation_rule`,
  `create_escalation_rule`, `update_escalation_rule` (any of `RULE_FIELDS`),
  `delete_escalation_rule`.
- `reply_templates.py`: a workspace's reply templates: `list_reply_templates`,
  `get_reply_template`, `create_reply_template`, `update_reply_template`
  (`REPLY_TEMPLATE_FIELDS`), `delete_reply_template` (imported as the module).
- `resolution_reasons.py`: a workspace's resolution reasons (root causes):
  `list_resolution_reasons`, `get_resolution_reason`,
  `create_resolution_reason`, `update_resolution_reason`
  (`RESOLUTION_REASON_FIELDS` but the code; retire instead of deleting).
- `starter.py`: a first run: `STARTER_WORKSPACE_ID`, `STARTER_SEGMENT`,
  `ensure_starter_workspace`.

Callers import from the package (`from store import configuration`,
`from store.configuration import load_policy`): it re-exports every public
name of its modules (`__all__`).
"""

from __future__ import annotations

from store.configuration.common import (
    ConfigurationError,
    Conflict,
    InvalidConfiguration,
    NotFound,
    Phrase,
)
from store.configuration.policy import load_policy, rule_of, segment_calendar, workspace_revision
from store.configuration.resolution_reasons import (
    RESOLUTION_REASON_FIELDS,
    create_resolution_reason,
    get_resolution_reason,
    list_resolution_reasons,
    update_resolution_reason,
)
from store.configuration.rules import (
    RULE_FIELDS,
    create_escalation_rule,
    delete_escalation_rule,
    get_escalation_rule,
    list_escalation_rules,
    update_escalation_rule,
)
from store.configuration.segments import (
    SEGMENT_FIELDS,
    ManagerEntry,
    SegmentConfig,
    create_segment,
    delete_segment,
    get_segment,
    list_segments,
    replace_segment_managers,
    update_segment,
)
from store.configuration.starter import STARTER_SEGMENT, STARTER_WORKSPACE_ID, ensure_starter_workspace
from store.configuration.surveys import (
    DEFAULT_FIELD_MAPPING,
    MAPPED_FIELDS,
    SURVEY_FIELDS,
    create_survey,
    delete_survey,
    get_survey,
    list_surveys,
    question_keys,
    rotate_webhook_secret,
    update_survey,
)
from store.configuration.users import (
    USER_FIELDS,
    create_user,
    delete_user,
    get_user,
    list_users,
    update_user,
)
from store.configuration.workspaces import (
    create_workspace,
    delete_workspace,
    get_workspace,
    list_workspaces,
    update_workspace,
)

__all__ = [
    # resolution_reasons.py
    "RESOLUTION_REASON_FIELDS",
    "create_resolution_reason",
    "get_resolution_reason",
    "list_resolution_reasons",
    "update_resolution_reason",
    # policy.py: what the ticket workflows read
    "load_policy",
    "rule_of",
    "segment_calendar",
    "workspace_revision",
    # common.py: the refusals
    "ConfigurationError",
    "Conflict",
    "InvalidConfiguration",
    "NotFound",
    "Phrase",
    # workspaces.py
    "create_workspace",
    "delete_workspace",
    "get_workspace",
    "list_workspaces",
    "update_workspace",
    # users.py
    "USER_FIELDS",
    "create_user",
    "delete_user",
    "get_user",
    "list_users",
    "update_user",
    # segments.py: segments and their managers
    "SEGMENT_FIELDS",
    "ManagerEntry",
    "SegmentConfig",
    "create_segment",
    "delete_segment",
    "get_segment",
    "list_segments",
    "replace_segment_managers",
    "update_segment",
    # surveys.py
    "DEFAULT_FIELD_MAPPING",
    "MAPPED_FIELDS",
    "SURVEY_FIELDS",
    "create_survey",
    "delete_survey",
    "get_survey",
    "list_surveys",
    "question_keys",
    "rotate_webhook_secret",
    "update_survey",
    # rules.py: escalation rules
    "RULE_FIELDS",
    "create_escalation_rule",
    "delete_escalation_rule",
    "get_escalation_rule",
    "list_escalation_rules",
    "update_escalation_rule",
    # starter.py: a first run
    "STARTER_SEGMENT",
    "STARTER_WORKSPACE_ID",
    "ensure_starter_workspace",
]
