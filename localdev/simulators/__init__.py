"""The wire formats the provider simulator speaks, one module per kind (docs/providers.md).

The server (localdev/provider_simulator.py) owns what every simulated provider shares: arrivals, its own
rate limit counted on arrival, latency, the failure modes and the control endpoints. A wire format owns
what differs between vendors: which requests are sends, how a send is parsed and authenticated, and
every answer, in the vendor's own shape:

    is_send(method, path, headers)   is this request a send?
    read(request, config)            -> Inbound: the message, the auth verdict, or the vendor's answer
                                        to a malformed request
    accepted(inbound, message_ids)   the vendor's answer to an accepted send
    answer(code, inbound)            the vendor's answer for one of its error codes (``ERRORS``)

``local_setup`` gives what the local stack needs to run one: the simulator's credentials (made up per
run) and the ``SMS_PROVIDERS`` entry that points the gateway at it with those credentials.

``MODE_CODES`` maps the simulator's generic modes (reject, unauthorized, throttle, fail, flaky) to the
vendor's codes, and ``RATE_LIMIT_CODE`` is what it answers over its own rate limit.
"""

from __future__ import annotations

import importlib
import json
import secrets
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qs


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, content_type: str = "application/json", **headers: str) -> Reply:
        return cls(status, json.dumps(payload).encode(), content_type, headers)


@dataclass(frozen=True)
class SimRequest:
    method: str
    path: str
    headers: Mapping[str, str]  # names lower-cased
    body: bytes


@dataclass
class Inbound:
    """One send as the simulator read it."""

    auth: str = "ok"  # ok | missing | wrong | unchecked (no credentials configured)
    auth_code: str | None = None  # the vendor's code for this auth failure (else its "unauthorized" one)
    message: dict[str, Any] | None = None  # to, text, reference, fields (the request's non-secret fields)
    problem: Reply | None = None  # the vendor's answer when the request itself is malformed
    parts: int = 1  # SMS parts the vendor counts (Vonage answers one entry per part)


@dataclass(frozen=True)
class ErrorAnswer:
    status: int
    kind: str  # refused | refused_here | throttled | failure | unauthorized | configuration (docs only)
    message: str


class WireFormat(ABC):
    kind: ClassVar[str]
    ERRORS: ClassVar[Mapping[str, ErrorAnswer]]
    MODE_CODES: ClassVar[Mapping[str, tuple[str, ...]]]
    RATE_LIMIT_CODE: ClassVar[str]
    IDEMPOTENT: ClassVar[bool] = False  # does the vendor answer a repeated Idempotency-Key instead of sending?
    ANSWERS_PER_PART: ClassVar[bool] = False  # one verdict per SMS part (mode "partial" makes the last one fail)
    # The credential fields a simulator of this kind checks (empty credentials: any well-formed auth passes).
    CREDENTIAL_FIELDS: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def is_send(self, request: SimRequest) -> bool:
        """Whether this request is a send (else only the control endpoints may answer it)."""

    @abstractmethod
    def read(self, request: SimRequest, credentials: Mapping[str, str], api_key: str | None) -> Inbound:
        """The send as read: its message, or the vendor's answer to what is wrong with it, and the auth verdict."""

    @abstractmethod
    def accepted(self, inbound: Inbound, message_ids: list[str]) -> Reply:
        """The vendor's answer to an accepted send (one message id per part)."""

    def partly_accepted(self, inbound: Inbound, message_ids: list[str], code: str) -> Reply:
        """Every part accepted (``message_ids``) but one more, answered ``code`` (ANSWERS_PER_PART kinds)."""
        raise NotImplementedError(f"{self.kind} answers for a message as a whole")

    @abstractmethod
    def answer(self, code: str, inbound: Inbound | None = None, retry_after_s: int = 1) -> Reply:
        """The vendor's answer for one of its codes (``ERRORS``)."""

    @abstractmethod
    def new_message_id(self, name: str) -> str:
        """A message id in the vendor's format."""

    @abstractmethod
    def local_setup(self, base_url: str, env: Mapping[str, str]) -> tuple[dict, dict]:
        """(the simulator's auth settings, the kind's fields of the SMS_PROVIDERS entry pointing at it)."""

    def receipt(self, *, message: dict[str, Any], message_id: str, delivered: bool, url: str,
                credentials: Mapping[str, str], secret: str | None, now: float, interim: bool = False):
        """The vendor's delivery receipt for one accepted message, signed (a receipts.ReceiptCall); None when
        the kind sends none. ``interim``: an intermediate one, before the final one (``delivered`` says which)."""
        return None

    def local_receipts(self, receipt_url: str, simulator_auth: dict, entry: dict) -> tuple[dict, dict]:
        """(simulator settings, entry fields) that make its receipts reach ``receipt_url`` and verify there."""
        return {"receipt_url": receipt_url}, {}


def form_fields(request: SimRequest) -> dict[str, str]:
    """A form-encoded body as {name: last value}; {} when the body is not a UTF-8 form."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    try:
        pairs = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return {}
    return {key: values[-1] for key, values in pairs.items()}


def made_up_secret() -> str:
    """A credential for one run of a local simulator: not a real one, and never the same twice."""
    return secrets.token_urlsafe(18)


def wire_formats() -> dict[str, WireFormat]:
    """One per kind of the gateway's registry (``chalicelib.vendors.KINDS``): the ``WireFormat`` of that kind in
    localdev/simulators/<kind>.py (a dash in the kind: an underscore). A new kind needs no line here."""
    from chalicelib.vendors import KINDS as VENDOR_KINDS

    wires: dict[str, WireFormat] = {}
    for vendor in VENDOR_KINDS:
        module = importlib.import_module(f"{__name__}.{vendor.name.replace('-', '_')}")
        [wire] = [value for value in vars(module).values() if isinstance(value, type)
                  and issubclass(value, WireFormat) and getattr(value, "kind", None) == vendor.name]
        wires[vendor.name] = wire()
    return wires


WIRE_FORMATS = wire_formats()
KINDS = tuple(WIRE_FORMATS)
