"""The SQS event sources app.py's decorators declare, as chalice's ``on_sqs_message`` arguments.

chalice applies the stage's environment_variables before it imports app.py (deploy, package, local), so each
stage binds its own queues: the ARN when one is set (`make infra` writes them), else the name in the deploying
account. Only the queue settings are parsed (``QueueNames``), because at import time the rest of the
environment may be incomplete (a test importing app.py has no stage).
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import ValidationError

from chalicelib.errors import ConfigurationError
from chalicelib.policies import QueueNames, config_problem


def queue_names(environ: dict[str, str] | None = None) -> QueueNames:
    """The queue settings alone, read from ``environ`` (default: the process environment)."""
    source = os.environ if environ is None else environ
    try:
        return QueueNames.model_validate({name: value for name, value in source.items() if value})
    except ValidationError as exc:
        raise ConfigurationError(f"invalid configuration: {config_problem(exc.errors()[0])}") from None


def dispatch_event_source(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The queue and concurrency of the dispatcher's SQS event source."""
    return queue_names(environ).dispatch_source()


def callback_event_source(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The queue of the callbacks function's SQS event source."""
    return queue_names(environ).callback_source()


def delivery_events_source(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The queue of the delivery events handler's SQS event source."""
    return queue_names(environ).delivery_events_source()
