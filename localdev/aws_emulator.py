"""The local AWS emulator: moto's server (SQS, DynamoDB, CloudFormation ...) with its SQS made to
scale with a backlog.

    python -m localdev.aws_emulator --port 5055

Measured on this 2-core machine, stock moto 5.2.5 SQS slows as a queue grows: every SendMessage
computes the queue's three ApproximateNumberOf* attributes by walking every message, and each
visibility check turns the time into a datetime and back (~4.5 us per message per check): 218 sends/s
into an empty queue, 25/s at 1,200 delayed messages, 8/s with eight long-polling receivers.
``install_sqs_speedups`` keeps moto's behaviour and changes only how much work it does:
  - visibility and delay checks read time.time() directly;
  - the ApproximateNumberOf* counts are computed at most every 250 ms (they are approximate on AWS too);
  - a receive walks the queue lazily and stops once it has its messages; a waiting long poll wakes on
    the first visible message instead of building the list of all of them;
  - a delete stops at the message it deletes.
``install_deploy_support`` lets `chalice deploy` and `make infra` run against it (tests/integration/
test_deploy.py): moto 5.2.5 imports only OpenAPI 3 REST APIs, and chalice sends Swagger 2.0 of the same shape
for what moto reads (title, paths, responses, integrations), so the document is relabelled; and moto's
CloudFormation lacks two types infra/ uses, a secret and a Redis replication group, added here; and where moto
answers a template it cannot deploy with a 500 and a stack left CREATE_IN_PROGRESS for ever (a Fn::FindInMap key
the mapping lacks raises KeyError), the emulator answers as CloudFormation does: a parameter outside its
constraints is a 400 ValidationError, a resource that fails rolls the stack back to ROLLBACK_COMPLETE with the
error as the CREATE_FAILED event's reason. An update that changes a resource moto cannot update (a log group's
retention, an alarm's threshold: `make infra` again with LOG_RETENTION_DAYS or BACKLOG_AGE_ALARM_S) keeps the
resource, with a log group's retention applied, where moto would drop it from the stack and answer every later
DescribeStacks with a 500.
``install_dynamodb_atomic_writes`` makes moto's conditional writes atomic, as DynamoDB's are: moto
checks a condition and then writes, so two threads of its server can both pass the same condition, and
two concurrent claims of one attempt could both succeed (docs/benchmarks.md has the observation).
``--chaos`` (the chaos stacks of localdev/chaos.py) adds ``RefusedCalls``: one DynamoDB action on one table
answered 500 InternalServerError for a while, so a fault can lose a write other calls around it make.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import re
import signal
import sys
import threading
import time

COUNTS_TTL_S = 0.25


def install_sqs_speedups() -> None:
    import moto.sqs.models as sqs_models
    from moto.sqs.exceptions import ReceiptHandleIsInvalid

    original_unix_time_millis = sqs_models.unix_time_millis

    def unix_time_millis(dt=None):
        return time.time() * 1000.0 if dt is None else original_unix_time_millis(dt)

    sqs_models.unix_time_millis = unix_time_millis
    queue_class = sqs_models.Queue

    def visible_messages(self):
        now = time.time() * 1000.0
        return (m for m in self._messages if now > m.visible_at and now >= m.delayed_until)

    def counts(self) -> tuple[int, int, int]:
        cached = getattr(self, "_counts_cache", None)
        if cached is not None and time.monotonic() - cached[0] < COUNTS_TTL_S:
            return cached[1]
        now = time.time() * 1000.0
        visible = delayed = in_flight = 0
        for m in list(self._messages):
            if now < m.delayed_until:
                delayed += 1
            if now <= m.visible_at:
                in_flight += 1
            elif now >= m.delayed_until:
                visible += 1
        self._counts_cache = (time.monotonic(), (visible, delayed, in_flight))
        return visible, delayed, in_flight

    def wait_for_messages(self, timeout):
        with self._messages_lock:
            self._messages_lock.wait_for(lambda: next(self.messages, None) is not None, timeout=timeout)

    def delete_message(self, receipt_handle):
        if receipt_handle in self.deleted_messages:
            return  # deleting twice is allowed, as on AWS
        with self._messages_lock:
            for index, message in enumerate(self._messages):
                if message.had_receipt_handle(receipt_handle):
                    self.pending_messages.discard(message)
                    self.deleted_messages.update(message.all_receipt_handles)
                    del self._messages[index]
                    return
        raise ReceiptHandleIsInvalid()

    queue_class.messages = property(visible_messages)
    queue_class.approximate_number_of_messages = property(lambda self: counts(self)[0])
    queue_class.approximate_number_of_messages_delayed = property(lambda self: counts(self)[1])
    queue_class.approximate_number_of_messages_not_visible = property(lambda self: counts(self)[2])
    queue_class.wait_for_messages = wait_for_messages
    queue_class.delete_message = delete_message


def install_dynamodb_atomic_writes() -> None:
    import functools

    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()  # one for every table: writes are cheap, correctness is not optional

    def serialized(method):
        @functools.wraps(method)
        def wrapper(*args, **kwargs):
            with lock:
                return method(*args, **kwargs)

        return wrapper

    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        setattr(DynamoDBBackend, name, serialized(getattr(DynamoDBBackend, name)))


def install_deploy_support() -> None:
    _install_swagger_import()
    _install_cloudformation_models()
    _install_stack_failures()
    _install_resource_updates()


def parameter_problem(template: dict, values: dict) -> str | None:
    """CloudFormation's check of a stack's parameter values against the template's constraints, or None."""
    for name, spec in template.get("Parameters", {}).items():
        value = values.get(name, spec.get("Default"))
        if value is None:
            continue  # moto reports a missing parameter itself
        text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        allowed = [str(v) for v in spec.get("AllowedValues", [])]
        if allowed and text not in allowed:
            return f"Parameter '{name}' must be one of AllowedValues"
        if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], text):
            return spec.get("ConstraintDescription") or f"Parameter '{name}' must match {spec['AllowedPattern']}"
        if not spec.get("MinLength", 0) <= len(text) <= spec.get("MaxLength", len(text)):
            return spec.get("ConstraintDescription") or f"Parameter '{name}' has a length outside its limits"
        if spec.get("Type") == "Number" and not (float(spec.get("MinValue", "-inf")) <= float(text)
                                                 <= float(spec.get("MaxValue", "inf"))):
            return f"Parameter '{name}' must be a number between its MinValue and MaxValue"
    return None


def _install_stack_failures() -> None:
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.models import CloudFormationBackend, Stack
    from moto.core.exceptions import ServiceException, _RESTError

    original_create_stack = CloudFormationBackend.create_stack
    original_update_stack = CloudFormationBackend.update_stack
    original_create_resources = Stack.create_resources

    def checked(template: str, parameters: dict) -> None:
        problem = parameter_problem(Stack.parse_template(template), parameters)
        if problem:
            raise ValidationError(message=problem)

    def create_stack(self, name, template, parameters, *args, **kwargs):
        checked(template, parameters)
        try:
            return original_create_stack(self, name, template, parameters, *args, **kwargs)
        except (ServiceException, _RESTError):  # moto's own answers (AlreadyExists ...)
            raise
        except Exception as exc:  # the template itself did not load (moto raised before it kept the stack)
            raise ValidationError(message=f"Template error: {type(exc).__name__}: {exc}") from exc

    def update_stack(self, name, template, role_arn, parameters, tags):
        if template:
            checked(template, {p["ParameterKey"]: p.get("ParameterValue") for p in parameters
                               if not p.get("UsePreviousValue")})
        return original_update_stack(self, name, template, role_arn, parameters, tags)

    def create_resources(self) -> None:
        try:
            original_create_resources(self)
        except Exception as exc:
            self._add_stack_event("CREATE_FAILED", resource_status_reason=f"{type(exc).__name__}: {exc}")
            self.status = "ROLLBACK_IN_PROGRESS"
            self._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason="The following resource(s) "
                                  f"failed to create. Rollback requested by user. {exc!r}")
            with contextlib.suppress(Exception):  # what was created before the failure goes, Retain excepted
                self.resource_map.delete()
            self.status = "ROLLBACK_COMPLETE"
            self._add_stack_event("ROLLBACK_COMPLETE")

    CloudFormationBackend.create_stack = create_stack
    CloudFormationBackend.update_stack = update_stack
    Stack.create_resources = create_resources


def _install_resource_updates() -> None:
    import moto.cloudformation.parsing as parsing
    from moto.logs.models import logs_backends

    original_update = parsing.parse_and_update_resource

    def parse_and_update_resource(logical_id, resource_json, resources_map, account_id, region_name):
        updated = original_update(logical_id, resource_json, resources_map, account_id, region_name)
        resource_class = parsing.resource_class_from_type(resource_json["Type"])
        if updated is not None or resource_class is None or \
                not hasattr(resource_class.update_from_cloudformation_json, "__isabstractmethod__"):
            return updated
        kept = resources_map[logical_id]  # moto has no update for this type: it stays as it is
        retention = resource_json.get("Properties", {}).get("RetentionInDays")
        if resource_json["Type"] == "AWS::Logs::LogGroup" and retention is not None:
            days = parsing.clean_json(retention, resources_map)
            logs_backends[account_id][region_name].put_retention_policy(kept.name, int(days))
        return kept

    parsing.parse_and_update_resource = parse_and_update_resource


def _install_swagger_import() -> None:
    from moto.apigateway.models import APIGatewayBackend

    original_import, original_put = APIGatewayBackend.import_rest_api, APIGatewayBackend.put_rest_api

    def as_openapi3(document: dict) -> dict:
        if "swagger" not in document:
            return document
        relabelled = {key: value for key, value in document.items() if key != "swagger"}
        relabelled["openapi"] = "3.0.1"
        relabelled["info"] = {"description": "", **document.get("info", {})}  # moto requires a description
        return relabelled

    def import_rest_api(self, api_doc, fail_on_warnings):
        return original_import(self, as_openapi3(api_doc), fail_on_warnings)

    def put_rest_api(self, function_id, api_doc, fail_on_warnings, mode="merge"):
        return original_put(self, function_id, as_openapi3(api_doc), fail_on_warnings, mode)

    APIGatewayBackend.import_rest_api = import_rest_api
    APIGatewayBackend.put_rest_api = put_rest_api


def _install_cloudformation_models() -> None:
    """CloudFormation types moto's template parser does not know. Defining the classes registers them: moto
    looks models up among CloudFormationModel's subclasses (before its first template, then cached)."""
    import secrets as token_source

    from moto.core.common_models import CloudFormationModel
    from moto.secretsmanager.models import secretsmanager_backends

    class Secret(CloudFormationModel):
        """AWS::SecretsManager::Secret in moto's Secrets Manager; Ref is the ARN, as on AWS."""

        __module__ = "moto.secretsmanager.cloudformation"  # moto files models by the service in their module

        def __init__(self, arn: str, name: str):
            self.arn, self.name = arn, name

        @staticmethod
        def cloudformation_name_type() -> str:
            return "Name"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::SecretsManager::Secret"

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                            **kwargs):
            properties = cloudformation_json["Properties"]
            generate = properties.get("GenerateSecretString")
            value = properties.get("SecretString")
            if value is None and generate is not None:
                generated = token_source.token_urlsafe(generate.get("PasswordLength", 32))
                template = generate.get("SecretStringTemplate")
                value = (json.dumps({**json.loads(template), generate["GenerateStringKey"]: generated})
                         if template else generated)
            backend = secretsmanager_backends[account_id][region_name]
            created = json.loads(backend.create_secret(
                name=properties.get("Name", resource_name), secret_string=value, secret_binary=None,
                description=properties.get("Description"), tags=properties.get("Tags"), kms_key_id=None,
                client_request_token=None, replica_regions=[], force_overwrite=False))
            return cls(created["ARN"], created["Name"])

        @classmethod
        def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
            backend = secretsmanager_backends[account_id][region_name]
            backend.delete_secret(resource_name, recovery_window_in_days=None, force_delete_without_recovery=True)

        @property
        def physical_resource_id(self) -> str:
            return self.arn

        def get_cfn_attribute(self, attribute_name: str) -> str:
            return {"Id": self.arn, "Name": self.name}[attribute_name]

    class RedisReplicationGroup(CloudFormationModel):
        """AWS::ElastiCache::ReplicationGroup as far as a template reads it: its primary endpoint. No Redis
        runs behind it (the local stack brings its own); the address has ElastiCache's shape."""

        __module__ = "moto.elasticache.cloudformation"

        def __init__(self, group_id: str, region_name: str, port: int):
            self.group_id, self.region_name, self.port = group_id, region_name, port

        @staticmethod
        def cloudformation_name_type() -> str:
            return "ReplicationGroupId"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::ElastiCache::ReplicationGroup"

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                            **kwargs):
            port = int(cloudformation_json["Properties"].get("Port", 6379))
            return cls(resource_name.lower()[:40], region_name, port)

        @classmethod
        def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
            return None

        @property
        def physical_resource_id(self) -> str:
            return self.group_id

        def get_cfn_attribute(self, attribute_name: str) -> str:
            return {
                "PrimaryEndPoint.Address": f"master.{self.group_id}.abc123.{self.region_name}.cache.amazonaws.com",
                "PrimaryEndPoint.Port": str(self.port),
            }[attribute_name]


class RefusedCalls:
    """WSGI middleware: ``POST /_chaos/refuse {"action": "UpdateItem", "table": "sms_requests", "seconds": 4}``
    makes every call of that DynamoDB action on that table fail with 500 InternalServerError (the answer
    DynamoDB gives when it cannot serve a request) until the seconds pass; the rest is served as usual."""

    PATH = "/_chaos/refuse"

    def __init__(self, app):
        self._app = app
        self._lock = threading.Lock()
        self._rules: list[tuple[str, str, float]] = []  # (X-Amz-Target, table, until on the monotonic clock)
        self.refused = 0

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == self.PATH and environ.get("REQUEST_METHOD") == "POST":
            return self._add_rule(environ, start_response)
        tables = self._refused_tables(environ.get("HTTP_X_AMZ_TARGET", ""))
        if tables:
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            if json.loads(body or b"{}").get("TableName") in tables:
                with self._lock:
                    self.refused += 1
                return self._answer(start_response, "500 Internal Server Error", {
                    "__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                    "message": "Internal server error (refused by the chaos rule)"})
        return self._app(environ, start_response)

    def _add_rule(self, environ, start_response):
        try:
            rule = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
            target = f"DynamoDB_20120810.{rule['action']}"
            until = time.monotonic() + float(rule["seconds"])
            table = str(rule["table"])
        except (ValueError, KeyError, TypeError) as exc:
            return self._answer(start_response, "400 Bad Request", {"error": f"want action, table, seconds: {exc}"})
        with self._lock:
            self._rules.append((target, table, until))
        return self._answer(start_response, "200 OK", {"refusing": target, "table": table, "seconds": rule["seconds"]})

    def _refused_tables(self, target: str) -> set[str]:
        if not target.startswith("DynamoDB_"):
            return set()
        now = time.monotonic()
        with self._lock:
            self._rules = [rule for rule in self._rules if rule[2] > now]
            return {table for rule_target, table, _ in self._rules if rule_target == target}

    @staticmethod
    def _answer(start_response, status: str, body: dict):
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(data)))])
        return [data]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5055)
    parser.add_argument("--stock", action="store_true", help="run moto as it ships, without the SQS speedups")
    parser.add_argument("--threads", type=int, default=48, help="request threads (long polls hold one each)")
    parser.add_argument("--chaos", action="store_true", help="accept POST /_chaos/refuse (RefusedCalls)")
    args = parser.parse_args(argv)
    install_dynamodb_atomic_writes()
    install_deploy_support()
    if not args.stock:
        install_sqs_speedups()
    from moto.server import DomainDispatcherApplication, create_backend_app
    from waitress.server import create_server

    # waitress, not werkzeug's dev server: werkzeug closes every connection after one answer (so each AWS
    # call paid a TCP connect and a new thread); waitress keeps them alive and serves from a thread pool.
    # Threads: long polls (ReceiveMessage with WaitTimeSeconds) each hold one for up to 20 s.
    app = DomainDispatcherApplication(create_backend_app)
    server = create_server(RefusedCalls(app) if args.chaos else app, host=args.host, port=args.port,
                           threads=args.threads, connection_limit=1000, channel_timeout=120,
                           ident="moto", clear_untrusted_proxy_headers=False)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" warnings under load
    print(f"AWS emulator (moto{'' if args.stock else ' + SQS speedups'}) on http://{args.host}:{args.port}",
          flush=True)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: server.close())
    with contextlib.suppress(OSError, ValueError):  # the signal handler closed it
        server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
