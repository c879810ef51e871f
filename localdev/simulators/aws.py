"""The simulator's ``aws`` wire: AWS End User Messaging SMS (pinpoint-sms-voice-v2) SendTextMessage over
AWS's JSON 1.0 protocol, which moto does not implement.

    POST /   X-Amz-Target: PinpointSMSVoiceV2.SendTextMessage   Content-Type: application/x-amz-json-1.0
    Authorization: AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/sms-voice/aws4_request, SignedHeaders, Signature
    200 {"MessageId"} | 400 {"__type": "com.amazonaws.pinpointsmsvoicev2#<Code>", "Message", "Reason", ...}
                      | 500 InternalServerException

The SigV4 signature is checked in full (canonical request, string to sign, derived key) when the simulator
knows the access key's secret; the answers' shapes are the service model's (botocore's service-2.json).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from localdev.simulators import ErrorAnswer, Inbound, Reply, SimRequest, WireFormat

TARGET = "PinpointSMSVoiceV2.SendTextMessage"
CONTENT_TYPE = "application/x-amz-json-1.0"
NAMESPACE = "com.amazonaws.pinpointsmsvoicev2"
SIGNING_NAME = "sms-voice"
DESTINATION = re.compile(r"^\+?[1-9][0-9]{1,18}$")
AUTHORIZATION = re.compile(r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
                           r"(?P<service>[^/]+)/aws4_request, ?SignedHeaders=(?P<signed>[a-z0-9;-]+), ?"
                           r"Signature=(?P<signature>[0-9a-f]{64})$")


class AwsSmsWire(WireFormat):
    kind = "aws"
    CREDENTIAL_FIELDS = ("aws_access_key_id", "aws_secret_access_key")
    # "<__type>" or "<__type>:<Reason or ResourceType>"
    ERRORS = {
        "ValidationException:INVALID_PARAMETER": ErrorAnswer(400, "refused", "Invalid parameter"),
        # This account's set-up for the destination: another provider may send it (refused here).
        "ValidationException:DESTINATION_COUNTRY_BLOCKED": ErrorAnswer(400, "refused_here", "Destination country "
                                                                                             "blocked"),
        "ValidationException:SENDER_ID_NOT_REGISTERED": ErrorAnswer(400, "refused_here", "Sender ID not registered"),
        "ValidationException:SENDER_ID_REQUIRES_REGISTRATION": ErrorAnswer(400, "refused_here",
                                                                           "Sender ID requires registration"),
        "ValidationException:SENDER_ID_NOT_SUPPORTED": ErrorAnswer(400, "refused_here", "Sender ID not supported"),
        "ValidationException:INVALID_IDENTITY_FOR_DESTINATION_COUNTRY": ErrorAnswer(
            400, "refused_here", "Invalid identity for destination country"),
        "ValidationException:COUNTRY_NOT_ENABLED": ErrorAnswer(400, "refused_here", "Country not enabled"),
        "ValidationException:INTERNATIONAL_SENDING_NOT_SUPPORTED": ErrorAnswer(
            400, "refused_here", "International sending not supported"),
        "ValidationException:PRICE_OVER_THRESHOLD": ErrorAnswer(400, "refused_here", "Price over threshold"),
        "ConflictException:DESTINATION_PHONE_NUMBER_NOT_VERIFIED": ErrorAnswer(
            400, "refused_here", "Destination phone number not verified"),
        "ConflictException:NO_ORIGINATION_IDENTITIES_FOUND": ErrorAnswer(400, "refused_here",
                                                                         "No origination identities found"),
        "ValidationException:CHANNEL_NOT_ENABLED": ErrorAnswer(400, "configuration", "Channel not enabled"),
        "ConflictException:DESTINATION_PHONE_NUMBER_OPTED_OUT": ErrorAnswer(400, "refused", "Destination phone "
                                                                                             "number opted out"),
        "ConflictException:RESOURCE_NOT_ACTIVE": ErrorAnswer(400, "configuration", "Resource not active"),
        "AccessDeniedException:ACCOUNT_DISABLED": ErrorAnswer(400, "configuration", "Account disabled"),
        "ResourceNotFoundException:configuration-set": ErrorAnswer(400, "configuration", "Configuration set not "
                                                                                          "found"),
        "ServiceQuotaExceededException:MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT": ErrorAnswer(
            400, "configuration", "Monthly spend limit reached"),
        "ThrottlingException": ErrorAnswer(400, "throttled", "Rate exceeded"),
        "InternalServerException": ErrorAnswer(500, "failure", "Internal server error"),
        "UnrecognizedClientException": ErrorAnswer(400, "unauthorized", "The security token included in the "
                                                                         "request is invalid."),
        "InvalidSignatureException": ErrorAnswer(400, "unauthorized", "The request signature we calculated does "
                                                                       "not match the signature you provided."),
        "MissingAuthenticationTokenException": ErrorAnswer(400, "unauthorized", "Missing Authentication Token"),
    }
    MODE_CODES = {"reject": ("ValidationException:INVALID_PARAMETER",),
                  "unauthorized": ("UnrecognizedClientException",), "throttle": ("ThrottlingException",),
                  "fail": ("InternalServerException",), "flaky": ("InternalServerException",)}
    RATE_LIMIT_CODE = "ThrottlingException"

    def is_send(self, request: SimRequest) -> bool:
        return request.method == "POST" and request.path == "/" and "x-amz-target" in request.headers

    def read(self, request: SimRequest, credentials: Mapping[str, str], api_key: str | None) -> Inbound:
        auth, auth_code = verify_sigv4(request, credentials.get("aws_access_key_id"),
                                       credentials.get("aws_secret_access_key"))
        if auth_code is not None:
            return Inbound(auth=auth, auth_code=auth_code)
        if request.headers.get("x-amz-target") != TARGET:
            return Inbound(auth=auth, problem=Reply.json(400, {"__type": "UnknownOperationException"}, CONTENT_TYPE))
        try:
            body = json.loads(request.body)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return Inbound(auth=auth, problem=self._validation("CANNOT_PARSE", "Body is not a JSON object"))
        to, text = body.get("DestinationPhoneNumber"), body.get("MessageBody")
        if not isinstance(to, str) or not DESTINATION.match(to):
            return Inbound(auth=auth, problem=self._validation("FIELD_VALIDATION_FAILED", "Invalid destination",
                                                               field="DestinationPhoneNumber"))
        if not isinstance(text, str) or not text.strip() or len(text) > 1600:
            return Inbound(auth=auth, problem=self._validation("FIELD_VALIDATION_FAILED", "Invalid message body",
                                                               field="MessageBody"))
        context = body.get("Context") if isinstance(body.get("Context"), dict) else {}
        if len(context) > 5:
            return Inbound(auth=auth, problem=self._validation("FIELD_VALIDATION_FAILED", "At most 5 entries",
                                                               field="Context"))
        fields = {key: value for key, value in body.items() if key != "MessageBody"}
        message = {"to": to, "text": text, "reference": context.get("request_id"), "fields": fields}
        return Inbound(auth=auth, message=message)

    def accepted(self, inbound: Inbound, message_ids: list[str]) -> Reply:
        return Reply.json(200, {"MessageId": message_ids[0]}, CONTENT_TYPE, **{"x-amzn-RequestId": str(uuid.uuid4())})

    def answer(self, code: str, inbound: Inbound | None = None, retry_after_s: int = 1) -> Reply:
        error = self.ERRORS[code]
        error_type, _, detail = code.partition(":")
        payload = {"__type": f"{NAMESPACE}#{error_type}", "Message": error.message}
        if error_type == "ResourceNotFoundException":
            payload.update(ResourceType=detail, ResourceId="unknown")
        elif detail:
            payload["Reason"] = detail
        return Reply.json(error.status, payload, CONTENT_TYPE, **{"x-amzn-RequestId": str(uuid.uuid4())})

    def new_message_id(self, name: str) -> str:
        return str(uuid.uuid4())

    def receipt(self, *, message: dict[str, Any], message_id: str, delivered: bool, url: str,
                credentials: Mapping[str, str], secret: str | None, now: float, interim: bool = False):
        from localdev.simulators.receipts import ReceiptCall

        # The configuration set's event, in the SNS envelope the topic's SQS subscription delivers.
        # Intermediate: the carrier accepted it (TEXT_DELIVERED may follow), or could not reach it for now.
        if interim:
            event_type = "TEXT_SUCCESSFUL" if delivered else "TEXT_CARRIER_UNREACHABLE"
        else:
            event_type = "TEXT_DELIVERED" if delivered else "TEXT_CARRIER_UNREACHABLE"
        fields = message["fields"]
        event = {"eventType": event_type, "eventVersion": "1.0", "eventTimestamp": int(now * 1000),
                 "isFinal": not interim,
                 "originationPhoneNumber": fields.get("OriginationIdentity", ""),
                 "destinationPhoneNumber": message["to"],
                 "messageId": message_id, "messageStatus": event_type.removeprefix("TEXT_"),
                 "messageType": fields.get("MessageType", "TRANSACTIONAL"), "context": fields.get("Context") or {},
                 "totalMessageParts": 1}
        envelope = {"Type": "Notification", "MessageId": str(uuid.uuid4()),
                    "TopicArn": "arn:aws:sns:us-east-1:000000000000:sms-gateway-local-delivery-events",
                    "Message": json.dumps(event),
                    "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now))}
        return ReceiptCall("SQS", url, {}, json.dumps(envelope).encode())

    @staticmethod
    def deliver_receipt(call) -> int:
        """Onto the delivery-events queue (``sqs://<queue name>``), as the SNS subscription would."""
        import boto3

        sqs = boto3.session.Session().client("sqs", region_name=os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
        queue_url = sqs.get_queue_url(QueueName=call.url.removeprefix("sqs://"))["QueueUrl"]
        sqs.send_message(QueueUrl=queue_url, MessageBody=call.body.decode())
        return 200

    def local_receipts(self, receipt_url: str, simulator_auth: dict, entry: dict) -> tuple[dict, dict]:
        return {"receipt_url": receipt_url}, {}

    def local_setup(self, base_url: str, env: Mapping[str, str]) -> tuple[dict, dict]:
        # The gateway signs with the environment's AWS credentials (the local stack's, for the emulator too);
        # the simulator checks the signature with the same pair.
        credentials = {"aws_access_key_id": env.get("AWS_ACCESS_KEY_ID", ""),
                       "aws_secret_access_key": env.get("AWS_SECRET_ACCESS_KEY", "")}
        entry = {"endpoint_url": base_url, "region": env.get("AWS_DEFAULT_REGION") or "us-east-1",
                 "origination_identity": "+15005550007"}
        return {"credentials": credentials}, entry

    def _validation(self, reason: str, message: str, field: str | None = None) -> Reply:
        payload = {"__type": f"{NAMESPACE}#ValidationException", "Message": message, "Reason": reason}
        if field:
            payload["Fields"] = [{"Name": field, "Message": message}]
        return Reply.json(400, payload, CONTENT_TYPE, **{"x-amzn-RequestId": str(uuid.uuid4())})


def verify_sigv4(request: SimRequest, access_key: str | None, secret_key: str | None) -> tuple[str, str | None]:
    """(ok | missing | wrong | unchecked, the error code to answer): AWS Signature Version 4 of a request with
    an empty query string (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html)."""
    header = request.headers.get("authorization")
    if not header:
        return "missing", "MissingAuthenticationTokenException"
    match = AUTHORIZATION.match(header)
    if match is None or match["service"] != SIGNING_NAME:
        return "wrong", "InvalidSignatureException"
    if access_key is None or secret_key is None:
        return "unchecked", None
    if match["key"] != access_key:
        return "wrong", "UnrecognizedClientException"
    expected = sigv4_signature(request, secret_key, date=match["date"], region=match["region"],
                               service=match["service"], signed_headers=match["signed"].split(";"))
    if expected is not None and hmac.compare_digest(expected, match["signature"]):
        return "ok", None
    return "wrong", "InvalidSignatureException"


def sigv4_signature(request: SimRequest, secret_key: str, *, date: str, region: str, service: str,
                    signed_headers: list[str], query: str = "") -> str | None:
    if any(name not in request.headers for name in signed_headers) or "x-amz-date" not in request.headers:
        return None
    canonical_headers = "".join(f"{name}:{' '.join(request.headers[name].split())}\n" for name in signed_headers)
    canonical_request = "\n".join([request.method, quote(request.path, safe="/~"), query, canonical_headers,
                                   ";".join(signed_headers), hashlib.sha256(request.body).hexdigest()])
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", request.headers["x-amz-date"], scope,
                                hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = ("AWS4" + secret_key).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
