"""``aws``: AWS End User Messaging SMS (API ``pinpoint-sms-voice-v2``, operation ``SendTextMessage``).

boto3 builds, signs (SigV4, the function's IAM role) and parses the call: AWS's JSON 1.0 protocol
(``POST /``, ``X-Amz-Target: PinpointSMSVoiceV2.SendTextMessage``, ``application/x-amz-json-1.0``), its
credential chain and its error model are worth the dependency. Its transport is not: botocore's timeouts
are per socket read, like httpx's, and it retries on its own. So the client makes one attempt, and a
``before-send`` hook (botocore's documented way to answer a request itself) sends the signed request on
the gateway's shared httpx client under the call's deadline (deadline.py).

Success is ``200 {"MessageId": "..."}``. Errors are ``{"__type": "...#ValidationException", "Message",
"Reason", ...}``, 400 for client errors, 500 for InternalServerException; the table is
docs/providers.md#aws. ``Context`` carries the gateway's request id and attempt into the delivery events
(events.py).
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar, Literal

import boto3
import botocore.loaders
import botocore.session
import httpx
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
)
from pydantic import Field, model_validator

from chalicelib.providers.base import (
    CONFIGURATION,
    FAILURE,
    REFUSED,
    REFUSED_HERE,
    THROTTLED,
    AnswerClass,
    OutgoingSms,
    ProviderAdapter,
    ProviderEntry,
    Verdict,
    accepted,
    failed,
    misconfigured,
    transport_failure,
)
from chalicelib.providers.deadline import AnswerTooLarge, call_within, deadline_scope
from chalicelib.providers.secrets import SecretSource

SERVICE = "pinpoint-sms-voice-v2"
SEND_EVENT = "before-send.pinpoint-sms-voice-v2.SendTextMessage"

# ValidationException Reason values about this account's set-up for this message's destination: another
# provider may send it (refused here). The remaining ones are about the message or its destination (refused),
# or the configuration (below). AWS does not say which ones SendTextMessage returns.
VALIDATION_REFUSED_HERE = frozenset({"SENDER_ID_NOT_REGISTERED", "SENDER_ID_REQUIRES_REGISTRATION",
                                     "SENDER_ID_NOT_SUPPORTED", "INVALID_IDENTITY_FOR_DESTINATION_COUNTRY",
                                     "DESTINATION_COUNTRY_BLOCKED", "COUNTRY_NOT_ENABLED",
                                     "INTERNATIONAL_SENDING_NOT_SUPPORTED", "PRICE_OVER_THRESHOLD"})
VALIDATION_CONFIGURATION = frozenset({"CHANNEL_NOT_ENABLED", "INVALID_ARN", "RESOURCE_NOT_ACCESSIBLE",
                                      "PARAMETERS_CANNOT_BE_USED_TOGETHER", "UNKNOWN_OPERATION"})
# ConflictException Reason values about the recipient (refused), or about this account and the recipient (refused
# here: a sandbox account's unverified destination, no origination identity for its country); every other one is
# a resource in the wrong state. The protect configuration's blocks stay refusals: the operator chose to block
# that country or number, and another provider must not get round it.
CONFLICT_REFUSALS = frozenset({"DESTINATION_PHONE_NUMBER_OPTED_OUT",
                               "DESTINATION_COUNTRY_BLOCKED_BY_PROTECT_CONFIGURATION",
                               "DESTINATION_PHONE_NUMBER_BLOCKED_BY_PROTECT_NUMBER_OVERRIDE"})
CONFLICT_REFUSED_HERE = frozenset({"DESTINATION_PHONE_NUMBER_NOT_VERIFIED", "NO_ORIGINATION_IDENTITIES_FOUND"})
# Error codes -> class; ValidationException and ConflictException go by their Reason (see _class_of).
ERROR_CODES: dict[str, AnswerClass] = {
    "ThrottlingException": THROTTLED,
    "InternalServerException": FAILURE,
    "ServiceUnavailableException": FAILURE,
    "AccessDeniedException": CONFIGURATION,
    "ResourceNotFoundException": CONFIGURATION,
    "ServiceQuotaExceededException": CONFIGURATION,
    # Signing and credentials, common to every AWS JSON API.
    "UnrecognizedClientException": CONFIGURATION,
    "InvalidSignatureException": CONFIGURATION,
    "IncompleteSignatureException": CONFIGURATION,
    "MissingAuthenticationTokenException": CONFIGURATION,
    "InvalidClientTokenId": CONFIGURATION,
    "ExpiredTokenException": CONFIGURATION,
}


# SendTextMessage's TimeToLive: 5 s to 72 h; a client's validity outside it is moved to its edge.
MIN_TIME_TO_LIVE_S = 5
MAX_TIME_TO_LIVE_S = 259_200


class AwsSmsConfig(ProviderEntry):
    ENDPOINT_FIELD: ClassVar[str] = "endpoint_url"

    kind: Literal["aws"]
    region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    endpoint_url: str | None = Field(default=None, pattern=r"^https?://")
    origination_identity: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_:/+-]{1,256}$")
    message_type: Literal["TRANSACTIONAL", "PROMOTIONAL"] = "TRANSACTIONAL"
    configuration_set: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_:/-]{1,256}$")
    max_price: str | None = Field(default=None, pattern=r"^[0-9]{0,2}\.[0-9]{1,5}$")
    time_to_live_s: int | None = Field(default=None, ge=MIN_TIME_TO_LIVE_S, le=MAX_TIME_TO_LIVE_S)

    @model_validator(mode="after")
    def _no_secret(self) -> AwsSmsConfig:
        if self.secret_id is not None:
            raise ValueError("secret_id: aws providers sign with the function's IAM role and take no secret")
        return self

    @property
    def configured_sender(self) -> str | None:
        # A phone number or sender id as given; an ARN or pool id never equals a request's from.
        return self.origination_identity


@functools.cache
def _model_loader() -> botocore.loaders.Loader:
    # Shared by every client: the service model is read from disk once. Each client still gets a session of
    # its own, so it finds the credentials of the environment it is built in.
    return botocore.loaders.create_loader()


def sms_client(config: AwsSmsConfig, default_region: str):
    """A client of its own per provider: one attempt (retries are the gateway's), its own region/endpoint."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _model_loader())
    return boto3.session.Session(botocore_session=core).client(
        SERVICE, region_name=config.region or default_region, endpoint_url=config.endpoint_url,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=config.timeout_s,
                      read_timeout=config.timeout_s))


def _class_of(code: str, reason: str | None, status_code: int | None) -> AnswerClass:
    if code == "ValidationException":
        if reason in VALIDATION_REFUSED_HERE:
            return REFUSED_HERE
        return CONFIGURATION if reason in VALIDATION_CONFIGURATION else REFUSED
    if code == "ConflictException":
        if reason in CONFLICT_REFUSED_HERE:
            return REFUSED_HERE
        return REFUSED if reason in CONFLICT_REFUSALS else CONFIGURATION
    if code in ERROR_CODES:
        return ERROR_CODES[code]
    return THROTTLED if status_code == 429 else FAILURE


def classify_error(response: dict[str, Any]) -> Verdict:
    """The verdict on a ClientError's parsed response."""
    error = response.get("Error", {})
    code = error.get("Code", "") or "unknown"
    reason = response.get("Reason")
    status_code = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    kept = {"code": code, "message": error.get("Message"), "reason": reason,
            "resource_type": response.get("ResourceType"),
            "request_id": response.get("ResponseMetadata", {}).get("RequestId")}
    kept = {key: value for key, value in kept.items() if value is not None}
    description = f"aws {code}" + (f" ({reason})" if reason else "")
    return Verdict.of(_class_of(code, reason, status_code), status_code, description, kept)


class _Body:
    """The raw body botocore reads an AWSResponse from."""

    def __init__(self, content: bytes):
        self._content = content

    def stream(self, **_):
        yield self._content


class AwsSmsProvider(ProviderAdapter):
    kind = "aws"
    _config: AwsSmsConfig

    def __init__(self, config: AwsSmsConfig, http: httpx.Client, secrets: SecretSource | None = None, *,
                 client=None, default_region: str = "us-east-1"):
        super().__init__(config, secrets)
        self._http = http
        self._client = client or sms_client(config, default_region)
        self._client.meta.events.register(SEND_EVENT, self._send_on_bounded_http)

    def _send_on_bounded_http(self, request, **_) -> AWSResponse:
        body = request.body.encode() if isinstance(request.body, str) else (request.body or b"")
        headers = {name: value for name, value in request.headers.items()}
        http_request = self._http.build_request(request.method, request.url, headers=headers, content=body)
        answer = call_within(self._http, http_request, timeout_s=self.timeout_s)
        return AWSResponse(request.url, answer.status_code, dict(answer.headers.items()), _Body(answer.body))

    def exchange(self, sms: OutgoingSms, credentials: dict[str, str]) -> Verdict:
        config = self._config
        params: dict[str, Any] = {"DestinationPhoneNumber": sms.phone, "MessageBody": sms.text,
                                  "MessageType": config.message_type,
                                  "Context": {"request_id": sms.request_id, "attempt": str(sms.attempt),
                                              "provider": config.name}}
        if sms.sender or config.origination_identity:
            params["OriginationIdentity"] = sms.sender or config.origination_identity
        if config.configuration_set:
            params["ConfigurationSetName"] = config.configuration_set
        if config.max_price:
            params["MaxPrice"] = config.max_price
        time_to_live = sms.validity_s or config.time_to_live_s
        if time_to_live:
            params["TimeToLive"] = min(MAX_TIME_TO_LIVE_S, max(MIN_TIME_TO_LIVE_S, time_to_live))
        try:
            with deadline_scope(self.timeout_s):  # signing and parsing count too, not only the wire
                response = self._client.send_text_message(**params)
        except ClientError as exc:
            return classify_error(exc.response)
        except (AnswerTooLarge, httpx.HTTPError) as exc:
            return transport_failure(exc, self.timeout_s)
        except (NoCredentialsError, PartialCredentialsError, NoRegionError) as exc:
            return misconfigured(None, f"aws credentials: {type(exc).__name__}")
        except ParamValidationError:
            # botocore's message quotes the offending value (the number or the text): not kept.
            return Verdict.of(REFUSED, None, "aws: the message does not fit SendTextMessage's input rules")
        except BotoCoreError as exc:
            return failed(None, f"aws client error: {type(exc).__name__}")
        metadata = response.get("ResponseMetadata", {})
        status_code = metadata.get("HTTPStatusCode", 200)
        message_id = response.get("MessageId")
        if not isinstance(message_id, str) or not message_id:
            return failed(status_code, "malformed answer: no MessageId", {"request_id": metadata.get("RequestId")})
        return accepted(status_code, message_id, {"MessageId": message_id, "request_id": metadata.get("RequestId")})
