"""What chalice 1.34 cannot be configured to do, added while its CLI runs this project.

app.py calls ``install_cli_hooks`` only when AWS_CHALICE_CLI_MODE is set, which the chalice CLI sets before
it imports app.py; Lambda never does (and its package carries no infra/).

- ``chalice deploy`` / ``chalice package``: the Lambda runtime is the one .chalice/config.json pins
  (``lambda_python_version``). chalice takes the runtime from the interpreter it runs on and has no setting
  for it, so a run on another Python stops here with a message, instead of deploying another runtime.
- ``chalice deploy``: the SQS event source mappings (dispatcher, callbacks) report partial batch failures
  (FunctionResponseTypes=[ReportBatchItemFailures]), which chalice has no setting for either. A botocore
  event handler on the Lambda clients of this process adds it to the CreateEventSourceMapping and
  UpdateEventSourceMapping calls chalice makes, so the mapping has it from the moment it exists, and a
  redeploy keeps it. (chalice builds its session before it imports app.py, and its clients after, so the
  handler goes on each new client.) Without it Lambda would delete a whole
  batch whenever the handler returns, including the records it reported as failed (the sweeper would
  pick those requests up again after SWEEP_AFTER_S: late, not lost). tests/tooling/integration/test_deploy.py reads
  the setting back after a deploy and a redeploy, so a chalice or botocore upgrade that bypasses this fails
  `make test`.
- ``chalice deploy``: the API stage is throttled (API_THROTTLE_RATE / API_THROTTLE_BURST of the stage, the
  outer shield in front of the gateway's own per-client limits) and belongs to a usage plan with the same
  throttle, as `make package` declares them (infra/resources.json). chalice has no setting for either; after
  chalice's CreateDeployment call the hook sets the stage's method settings and creates or updates the plan.
- ``chalice delete``: the usage plan goes with the API. chalice knows nothing of it (the hook above made it) and
  would leave ``sms-gateway-<stage>`` behind; right before chalice's DeleteRestApi call, while the API it names
  still exists, the hook takes the plan's API stages out (the console's order: a plan is emptied before it is
  deleted) and deletes the plan. `chalice delete`
  imports app.py too (it builds the app's graph to know what to delete), with the stage's environment.
- ``chalice local``: see localdev/chalice_local.py (what the reloader watches; no worker outliving Ctrl-C).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

import botocore.session
import click

PROJECT = Path(__file__).resolve().parents[1]
BATCH_ITEM_FAILURES = ["ReportBatchItemFailures"]
_EVENT_SOURCE_CALLS = ("before-parameter-build.lambda.CreateEventSourceMapping",
                       "before-parameter-build.lambda.UpdateEventSourceMapping")


def install_cli_hooks(command: str | None = None) -> None:
    command = command or _chalice_command()
    if command in ("deploy", "package"):
        require_pinned_runtime()
    if command == "deploy":
        report_batch_item_failures()
        throttle_api_stage()
    if command == "delete":
        delete_usage_plan_with_the_api()
    if command == "local":
        from localdev.chalice_local import install_local_hooks

        install_local_hooks()


def _chalice_command() -> str | None:
    context = click.get_current_context(silent=True)
    if context is not None:
        return context.info_name
    # click's context is per thread, and `chalice local`'s reloading worker imports app.py in its server
    # thread; the reloader marks its worker with CHALICE_WORKER.
    return "local" if os.environ.get("CHALICE_WORKER") else None


def pinned_runtime(project: Path = PROJECT) -> str:
    return json.loads((project / ".chalice" / "config.json").read_text())["lambda_python_version"]


def require_pinned_runtime(project: Path = PROJECT, version_info: tuple[int, ...] = sys.version_info[:2]) -> None:
    pinned = pinned_runtime(project)
    running = f"python{version_info[0]}.{version_info[1]}"
    if running != pinned:
        raise click.ClickException(
            f"this chalice runs on {running}, but .chalice/config.json pins the Lambda runtime to {pinned}: "
            f"chalice would build and deploy a {running} package. Use the project's venv built with "
            f"{pinned} (make venv PYTHON={pinned}), or change lambda_python_version on purpose.")


def add_batch_item_failures(params: dict, **_) -> None:
    # Creates carry the queue's ARN; updates only the mapping's UUID. This app's only event sources are its
    # SQS queues (app.py: dispatch and callbacks), both answering with batchItemFailures, so every mapping
    # chalice updates here is one of them.
    if ":sqs:" in params.get("EventSourceArn", ":sqs:"):
        params["FunctionResponseTypes"] = BATCH_ITEM_FAILURES


def report_batch_item_failures() -> None:
    """Every Lambda client created from now on in this process adds ReportBatchItemFailures to its event
    source mapping calls."""
    create_client = botocore.session.Session.create_client
    if getattr(create_client, "adds_batch_item_failures", False):
        return

    @functools.wraps(create_client)
    def create_client_reporting_batch_item_failures(self, service_name, *args, **kwargs):
        client = create_client(self, service_name, *args, **kwargs)
        if service_name == "lambda":
            for event in _EVENT_SOURCE_CALLS:
                client.meta.events.register(event, add_batch_item_failures)
        return client

    create_client_reporting_batch_item_failures.adds_batch_item_failures = True
    botocore.session.Session.create_client = create_client_reporting_batch_item_failures


def api_throttle(environ: dict[str, str] | None = None) -> tuple[int, int] | None:
    """(rate, burst) from the stage's environment, or None when the stage sets no throttle."""
    environ = os.environ if environ is None else environ
    rate, burst = int(environ.get("API_THROTTLE_RATE") or 0), int(environ.get("API_THROTTLE_BURST") or 0)
    return (rate, burst or rate) if rate else None


def usage_plan_name(stage: str) -> str:
    """The chalice stage's usage plan (infra/resources.json names the `make package` one the same way)."""
    return f"sms-gateway-{stage}"


def _usage_plans(client) -> list[dict]:
    return [plan for page in client.get_paginator("get_usage_plans").paginate() for plan in page["items"]]


def delete_usage_plans(client, rest_api_id: str, name: str) -> list[str]:
    """Delete the plans called name that hold a stage of rest_api_id (or no stage at all); returns their ids."""
    deleted = []
    for plan in _usage_plans(client):
        stages = plan.get("apiStages", [])
        if plan["name"] != name or (stages and rest_api_id not in {s["apiId"] for s in stages}):
            continue
        if stages:
            client.update_usage_plan(usagePlanId=plan["id"], patchOperations=[
                {"op": "remove", "path": "/apiStages", "value": f"{s['apiId']}:{s['stage']}"} for s in stages])
        client.delete_usage_plan(usagePlanId=plan["id"])
        deleted.append(plan["id"])
    return deleted


def apply_api_throttle(client, rest_api_id: str, stage: str, rate: int, burst: int) -> None:
    """The stage's method settings and the stage's usage plan, both at (rate, burst); safe to run again."""
    client.update_stage(restApiId=rest_api_id, stageName=stage, patchOperations=[
        {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": str(rate)},
        {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": str(burst)},
    ])
    name = usage_plan_name(os.environ.get("STAGE") or stage)
    plans = [p for p in _usage_plans(client) if p["name"] == name]
    throttle = [{"op": "replace", "path": "/throttle/rateLimit", "value": str(rate)},
                {"op": "replace", "path": "/throttle/burstLimit", "value": str(burst)}]
    if not plans:
        client.create_usage_plan(name=name, apiStages=[{"apiId": rest_api_id, "stage": stage}],
                                 throttle={"rateLimit": rate, "burstLimit": burst},
                                 description="The stage's outer shield, in front of the per-client limits.")
        return
    plan = plans[0]
    stages = {(s["apiId"], s["stage"]) for s in plan.get("apiStages", [])}
    if (rest_api_id, stage) not in stages:
        throttle.append({"op": "add", "path": "/apiStages", "value": f"{rest_api_id}:{stage}"})
    client.update_usage_plan(usagePlanId=plan["id"], patchOperations=throttle)


def throttle_api_stage() -> None:
    """Every API Gateway client created from now on throttles the stage chalice deploys to."""
    limits = api_throttle()
    create_client = botocore.session.Session.create_client
    if limits is None or getattr(create_client, "throttles_api", False):
        return
    rate, burst = limits

    @functools.wraps(create_client)
    def create_client_throttling_the_api(self, service_name, *args, **kwargs):
        client = create_client(self, service_name, *args, **kwargs)
        if service_name == "apigateway":
            deployments: list[dict] = []
            client.meta.events.register("provide-client-params.apigateway.CreateDeployment",
                                        lambda params, **_: deployments.append(dict(params)))
            client.meta.events.register(
                "after-call.apigateway.CreateDeployment",
                lambda **_: apply_api_throttle(client, deployments[-1]["restApiId"], deployments[-1]["stageName"],
                                               rate, burst))
        return client

    create_client_throttling_the_api.throttles_api = True
    botocore.session.Session.create_client = create_client_throttling_the_api


def delete_usage_plan_with_the_api() -> None:
    """Every API Gateway client created from now on deletes the stage's usage plan before it deletes the API."""
    create_client = botocore.session.Session.create_client
    if getattr(create_client, "deletes_usage_plan", False):
        return
    name = usage_plan_name(os.environ.get("STAGE") or _chalice_stage())

    @functools.wraps(create_client)
    def create_client_deleting_the_usage_plan(self, service_name, *args, **kwargs):
        client = create_client(self, service_name, *args, **kwargs)
        if service_name == "apigateway":
            def before_delete_rest_api(params: dict, **_) -> None:  # while the plan still names an API that exists
                delete_usage_plans(client, params["restApiId"], name)

            client.meta.events.register("provide-client-params.apigateway.DeleteRestApi", before_delete_rest_api)
        return client

    create_client_deleting_the_usage_plan.deletes_usage_plan = True
    botocore.session.Session.create_client = create_client_deleting_the_usage_plan


def _chalice_stage() -> str:
    """The --stage of the running chalice command; chalice's own default is dev."""
    context = click.get_current_context(silent=True)
    return (context.params.get("stage") if context is not None else None) or "dev"
