"""The simulator's ``http-json`` wire: the gateway's own provider contract (docs/providers.md#http-json).

    POST /send  {"to", "text", "reference"[, "from", "validity_s"]}
                Idempotency-Key: <id>-<attempt>  Authorization: Bearer <api_key>
    200 {"message_id"} | 400/401/404/422/429/500/503 {"error"}
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from chalicelib.vendors.http_json import signature_header
from localdev.simulators import ErrorAnswer, Inbound, Reply, SimRequest, WireFormat, made_up_secret


class HttpJsonWire(WireFormat):
    kind = "http-json"
    IDEMPOTENT = True  # the only kind whose provider honours Idempotency-Key
    ERRORS = {
        "400": ErrorAnswer(400, "refused", "invalid number"),
        "422": ErrorAnswer(422, "refused", "unprocessable message"),
        "401": ErrorAnswer(401, "unauthorized", "invalid credentials"),
        "403": ErrorAnswer(403, "configuration", "forbidden"),
        "404": ErrorAnswer(404, "configuration", "no such path"),
        "429": ErrorAnswer(429, "throttled", "rate limit exceeded"),
        "500": ErrorAnswer(500, "failure", "internal error"),
        "503": ErrorAnswer(503, "failure", "temporary failure"),
    }
    MODE_CODES = {"reject": ("400",), "unauthorized": ("401",), "throttle": ("429",), "fail": ("500",),
                  "flaky": ("500", "503")}
    RATE_LIMIT_CODE = "429"

    def is_send(self, request: SimRequest) -> bool:
        return request.method == "POST" and request.path == "/send"

    def read(self, request: SimRequest, credentials: Mapping[str, str], api_key: str | None) -> Inbound:
        if api_key is None:
            auth = "unchecked"
        elif "authorization" not in request.headers:
            auth = "missing"
        else:
            auth = "ok" if request.headers["authorization"] == f"Bearer {api_key}" else "wrong"
        message = _parse_message(request.body)
        if message is None:
            problem = Reply.json(400, {"error": "body needs a JSON object with string to and text"})
            return Inbound(auth=auth, problem=problem)
        return Inbound(auth=auth, message=message)

    def accepted(self, inbound: Inbound, message_ids: list[str]) -> Reply:
        return Reply.json(200, {"message_id": message_ids[0]})

    def answer(self, code: str, inbound: Inbound | None = None, retry_after_s: int = 1) -> Reply:
        error = self.ERRORS[code]
        if code == "429":
            return Reply.json(429, {"error": error.message}, **{"Retry-After": str(retry_after_s)})
        return Reply.json(error.status, {"error": error.message})

    def new_message_id(self, name: str) -> str:
        return f"{name}-{uuid.uuid4().hex}"

    def local_setup(self, base_url: str, env: Mapping[str, str]) -> tuple[dict, dict]:
        api_key = made_up_secret()
        return {"api_key": api_key}, {"url": f"{base_url}/send", "api_key": api_key}


    def receipt(self, *, message: dict[str, Any], message_id: str, delivered: bool, url: str,
                credentials: Mapping[str, str], secret: str | None, now: float, interim: bool = False):
        from localdev.simulators.receipts import ReceiptCall

        status = "sent" if interim else "delivered" if delivered else "undelivered"
        receipt: dict[str, Any] = {"message_id": message_id, "status": status,
                                   "reference": message.get("reference"), "occurred_at": now}
        if status == "undelivered":
            receipt.update(reason="unreachable", error_code="absent-subscriber")
        body = json.dumps(receipt).encode()
        return ReceiptCall("POST", url, {"Content-Type": "application/json",
                                         "X-Signature": signature_header(body, secret or "", int(now))}, body)

    def local_receipts(self, receipt_url: str, simulator_auth: dict, entry: dict) -> tuple[dict, dict]:
        secret = made_up_secret()
        return {"receipt_url": receipt_url, "receipt_secret": secret}, {"webhook_secret": secret}


def _parse_message(body: bytes) -> dict[str, Any] | None:
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    if not isinstance(message.get("to"), str) or not isinstance(message.get("text"), str):
        return None
    reference = message.get("reference")
    reference = reference if isinstance(reference, str) else None
    options = {name: message[name] for name in ("from", "validity_s") if name in message}  # only when sent
    return {"to": message["to"], "text": message["text"], "reference": reference,
            "fields": {"reference": reference, **options}}
