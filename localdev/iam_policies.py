"""Each function's IAM policy, evaluated the way AWS would against the calls its code makes.

moto does not enforce IAM (its access control can match SQS queue ARNs, but a DynamoDB table, index or a
secret is only ever the resource "*" to it), so the local tiers would let a function do what AWS denies.
Instead every AWS call the code makes is recorded with the function that made it, as IAM sees it: the
action (``<signing name>:<operation>``) and the resource ARN(s) it touches; each is then evaluated against
the function's generated policy (.chalice/policy-*.json with real ARNs in place of their CloudFormation
references, infra/stack.py's ``render_policy``).

The evaluator honours what these policies use: Allow and Deny, ``*`` and ``?`` in Action (case-insensitive)
and Resource; anything else (NotAction, NotResource, Condition, a Principal) is refused rather than guessed.

    GetItem on table/sms_requests              -> arn:aws:dynamodb:us-east-1:123456789012:table/sms_requests
    Query on index by_client                   -> ...:table/sms_requests/index/by_client
    SendMessage to .../123456789012/sms-callbacks -> arn:aws:sqs:us-east-1:123456789012:sms-callbacks
    GetSecretValue of sms-gateway/x/api-keys   -> the secret's ARN (a name is resolved as AWS does)

Local tooling: not part of the Lambda package.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from botocore.client import BaseClient
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parent.parent
CHALICE_DIR = ROOT / ".chalice"

SUPPORTED_STATEMENT_KEYS = {"Sid", "Effect", "Action", "Resource"}


@dataclass(frozen=True)
class Call:
    """One AWS API call as IAM evaluates it."""

    function: str
    action: str
    resources: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.function}: {self.action} on {', '.join(self.resources)}"


@dataclass(frozen=True)
class Grant:
    """One statement of a policy: its actions on its resources."""

    sid: str
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]

    def covers(self, action: str, resource: str) -> bool:
        return (any(_pattern(a, ignore_case=True).fullmatch(action) for a in self.actions)
                and any(_pattern(r, ignore_case=False).fullmatch(resource) for r in self.resources))


class UnsupportedPolicy(ValueError):
    """A policy uses IAM grammar this evaluator does not implement."""


def grants_of(document: Mapping) -> list[Grant]:
    grants = []
    for index, statement in enumerate(document["Statement"]):
        if unknown := set(statement) - SUPPORTED_STATEMENT_KEYS:
            raise UnsupportedPolicy(f"statement {statement.get('Sid', index)} uses {sorted(unknown)}")
        actions, resources = _listed(statement["Action"]), _listed(statement["Resource"])
        resolved = all(isinstance(value, str) for value in actions + resources)
        if not resolved or statement["Effect"] not in ("Allow", "Deny"):
            raise UnsupportedPolicy(f"statement {statement.get('Sid', index)} is not resolved: {statement}")
        grants.append(Grant(statement.get("Sid", str(index)), statement["Effect"], actions, resources))
    return grants


def allows(grants: list[Grant], action: str, resource: str) -> bool:
    """AWS's answer for one action on one resource: an explicit Deny wins, else some Allow, else denied."""
    matching = [grant.effect for grant in grants if grant.covers(action, resource)]
    return "Allow" in matching and "Deny" not in matching


def denied(grants: list[Grant], call: Call) -> bool:
    return not all(allows(grants, call.action, resource) for resource in call.resources)


def without(grants: list[Grant], sid: str, *, action: str | None = None, resource: str | None = None) -> list[Grant]:
    """The policy with one action (or one resource) taken out of one statement."""
    reduced = []
    for grant in grants:
        if grant.sid == sid:
            grant = Grant(grant.sid, grant.effect, tuple(a for a in grant.actions if a != action),
                          tuple(r for r in grant.resources if r != resource))
        if grant.actions and grant.resources:
            reduced.append(grant)
    return reduced


def _listed(value: str | list) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, list) else (value,)


@lru_cache(maxsize=512)
def _pattern(glob: str, *, ignore_case: bool) -> re.Pattern:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(regex, re.IGNORECASE if ignore_case else 0)


# --------------------------------------------------------------------------------- calls as IAM sees them


@dataclass
class Account:
    """Where the resources live, and the ARNs of the secrets by name (AWS evaluates a GetSecretValue by name
    against the secret's full ARN, random suffix included)."""

    account_id: str
    partition: str = "aws"
    secret_arns: dict[str, str] = field(default_factory=dict)
    # The account of the queues, when another emulator serves SQS (LocalStack's is 000000000000).
    sqs_account_id: str | None = None

    def resources_of(self, service: str, region: str, operation: str, params: Mapping[str, Any]) -> tuple[str, ...]:
        prefix = f"arn:{self.partition}:{service}:{region}:{self.account_id}"
        if service == "dynamodb":
            tables = [params["TableName"]] if "TableName" in params else list(params.get("RequestItems", {}))
            index = f"/index/{params['IndexName']}" if params.get("IndexName") else ""
            return tuple(f"{prefix}:table/{table}{index}" for table in tables)
        if service == "sqs":
            if "QueueUrl" in params:
                account, name = urlparse(params["QueueUrl"]).path.strip("/").split("/")[-2:]
                return (f"arn:{self.partition}:sqs:{region}:{account}:{name}",)
            owner = params.get("QueueOwnerAWSAccountId", self.account_id)
            return (f"arn:{self.partition}:sqs:{region}:{owner}:{params.get('QueueName', '*')}",)  # ListQueues: all
        if service == "secretsmanager":
            return (self.secret_arn(params["SecretId"], region),)
        if service == "sms-voice":
            identity = params.get("OriginationIdentity", "")
            return (identity if identity.startswith("arn:") else f"{prefix}:phone-number/{identity}",)
        return ("*",)  # a service this does not know: only a grant on "*" covers it

    def secret_arn(self, secret_id: str, region: str) -> str:
        """A secret's ARN from its id (an ARN, or a name). An unknown name gets the suffix pattern Secrets Manager's
        six random characters would fill: a grant on that name (or on a `.../*` pattern) covers it, and a grant on
        another secret's full ARN does not."""
        if secret_id.startswith("arn:"):
            return secret_id
        return self.secret_arns.get(secret_id) or (
            f"arn:{self.partition}:secretsmanager:{region}:{self.account_id}:secret:{secret_id}-??????")


class CallRecorder:
    """Every AWS call made in this process (any boto3 or PynamoDB client), with the function running it.

    ``enforce``: {function: its policy}; a call that policy does not allow is then refused as AWS refuses it
    (``AccessDenied``), after being recorded, and logged on stderr (``iam: ... denied``). ``keep=False``: the
    calls are checked, not kept (a long-running process)."""

    def __init__(self, account: Account, *, enforce: Mapping[str, list[Grant]] | None = None, keep: bool = True):
        self.account = account
        self.enforce = enforce
        self.keep = keep
        self.function: str | None = None  # None: the test's own calls (setting up, taking what is queued)
        self.calls: list[Call] = []
        self._exempt: set[int] = set()
        self._original: Callable | None = None
        self._thread = threading.local()  # a function run by one thread of a process that runs several

    def exempt(self, client: BaseClient) -> None:
        """A client of the platform's (the local event source mapping's), not of the function's code."""
        self._exempt.add(id(client))

    def record(self, client: BaseClient, operation: str, params: Mapping[str, Any]) -> Call | None:
        function = getattr(self._thread, "function", None) or self.function
        if function is None or id(client) in self._exempt:
            return None
        service = client.meta.service_model.signing_name
        resources = self.account.resources_of(service, client.meta.region_name, operation, params)
        call = Call(function, f"{service}:{operation}", resources)
        if self.keep:
            self.calls.append(call)
        return call

    def install(self) -> None:
        original = self._original = BaseClient._make_api_call
        recorder = self

        def recording(client, operation_name, api_params):
            call = recorder.record(client, operation_name, api_params)
            if call is not None and recorder.enforce is not None and denied(recorder.enforce[call.function], call):
                raise access_denied(call, operation_name)
            return original(client, operation_name, api_params)

        BaseClient._make_api_call = recording

    def uninstall(self) -> None:
        if self._original is not None:
            BaseClient._make_api_call, self._original = self._original, None

    @contextmanager
    def installed(self) -> Iterator[CallRecorder]:
        self.install()
        try:
            yield self
        finally:
            self.uninstall()

    @contextmanager
    def running(self, function: str | None) -> Iterator[None]:
        previous, self.function = self.function, function
        try:
            yield
        finally:
            self.function = previous

    @contextmanager
    def running_in_this_thread(self, function: str) -> Iterator[None]:
        """``function`` runs in this thread (the local stack's scheduler runs two in one thread of its own)."""
        self._thread.function = function
        try:
            yield
        finally:
            self._thread.function = None

    def denied(self, policies: Mapping[str, list[Grant]]) -> list[Call]:
        """The calls each function's policy does not allow, once each."""
        return list(dict.fromkeys(call for call in self.calls if denied(policies[call.function], call)))


def needed_by(calls: list[Call], grants: list[Grant]) -> Callable[..., bool]:
    """needed(sid, action=... | resource=...): does taking it out of the statement deny one of the calls the
    whole policy allows?"""
    allowed = [call for call in calls if not denied(grants, call)]

    def needed(sid: str, **taken_out) -> bool:
        reduced = without(grants, sid, **taken_out)
        return any(denied(reduced, call) for call in allowed)

    return needed


def access_denied(call: Call, operation: str) -> ClientError:
    """What AWS answers a call no statement allows (its message names the action and the resource)."""
    service = call.action.split(":")[0]
    code = "AccessDenied" if service == "sqs" else "AccessDeniedException"
    message = (f"User: arn:aws:sts::assumed-role/{call.function} is not authorized to perform: {call.action} on "
               f"resource: {', '.join(call.resources)} because no identity-based policy allows the {call.action} "
               "action")
    print(f"iam: {call} denied (not in .chalice/{policy_file(call.function)})", file=sys.stderr, flush=True)
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 403}},
                       operation)


# ------------------------------------------------------------------------------- the functions' policies


def policy_file(function: str) -> str:
    return json.loads((CHALICE_DIR / "config.json").read_text())["lambda_functions"][function]["iam_policy_file"]


def function_policies(settings, account: Account, region: str) -> dict[str, list[Grant]]:
    """{function: its policy}, .chalice/policy-*.json rendered as `make infra` renders them for `chalice deploy`
    (infra/stack.py's render_policy), with the ARNs of this environment's tables, queues and secrets (named by the
    settings as on AWS by the stack)."""
    from infra.stack import render_policy
    from localdev.resources import resource_names

    prefix = f"arn:{account.partition}"
    stage = settings.stage
    values = {"AWS::AccountId": account.account_id, "AWS::Region": region, "AWS::Partition": account.partition,
              "Stage": stage}
    for logical_id, name in resource_names(settings).items():
        values[logical_id] = (f"{prefix}:dynamodb:{region}:{account.account_id}:table/{name}"
                              if logical_id.endswith("Table")
                              else f"{prefix}:sqs:{region}:{account.sqs_account_id or account.account_id}:{name}")
    for logical_id, name in (("ApiKeysSecret", settings.api_keys_secret_id or f"sms-gateway/{stage}/api-keys"),
                             ("ProviderKeysSecret",
                              settings.provider_keys_secret_id or f"sms-gateway/{stage}/provider-keys")):
        values[logical_id] = account.secret_arn(name, region)
    for logical_id in json.loads((ROOT / "infra" / "resources.json").read_text())["Resources"]:
        if logical_id.endswith("LogGroup"):  # only the platform writes the logs
            values[logical_id] = f"{prefix}:logs:{region}:{account.account_id}:log-group:{logical_id}:*"
    return {function: grants_of(render_policy(json.loads((CHALICE_DIR / policy_file(function)).read_text()), values))
            for function in json.loads((CHALICE_DIR / "config.json").read_text())["lambda_functions"]}


def queue_account(queue_url: str) -> str:
    """The account in a queue's URL: the segment before its name (AWS and moto: /<account>/<name>; LocalStack's
    path strategy: /queue/<region>/<account>/<name>)."""
    return urlparse(queue_url).path.strip("/").split("/")[-2]


def enforce_function_policy(function: str | None) -> CallRecorder:
    """From now on this process runs as ``function`` would on AWS: any AWS call its policy does not allow is
    refused. The local stack's function processes call this when IAM_FUNCTION names their function. None: only
    the calls of a thread inside ``running_in_this_thread(<function>)`` are checked (the stack's scheduler)."""
    import boto3

    from chalicelib.settings import get_settings

    settings = get_settings()
    sts = boto3.session.Session().client("sts", region_name=settings.aws_region)
    # SQS may be another emulator's (AWS_ENDPOINT_URL_SQS), its own account
    queue_url = settings.queues.dispatch_queue_url
    account = Account(sts.get_caller_identity()["Account"],
                      sqs_account_id=queue_account(queue_url) if queue_url else None)
    recorder = CallRecorder(account, enforce=function_policies(settings, account, settings.aws_region), keep=False)
    recorder.function = function
    recorder.install()
    return recorder
