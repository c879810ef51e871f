"""What every provider adapter shares: the outcome classes, the result, the interface, the entry fields of
``SMS_PROVIDERS`` common to every kind, and the send flow of an adapter that speaks HTTP itself.

Every answer of every vendor falls into one ``Outcome`` (docs/providers.md has one table per vendor):

  outcome            gateway action                                     health
  ACCEPTED           request sent                                       success
  REFUSED            request failed, no retry (permanent for the text)  not counted
  REFUSED_HERE       this provider's account or set-up will not send    not counted
                     it: the provider is skipped for this request and
                     another one tried at once (not a retry); failed
                     (refused) only when every provider refused it
  THROTTLED          another provider at once, not a retry              not counted
  PROVIDER_FAILURE   retry with backoff on another provider             failure

A misconfiguration (wrong credentials, unknown account, wrong URL, a sender the account may not use) is a
PROVIDER_FAILURE with ``configuration_problem`` set: it counts against the provider's health, so a
misconfigured provider trips and stops getting traffic, and it is logged as a configuration problem. It is
never a refusal, which would fail every request sent its way for good.

REFUSED is kept for answers about the message or the recipient itself (invalid number, opted out, blocked
content): no other provider would send it either. An answer about *this* account's permissions for this
message (geo permissions, a trial account, a sender not registered for the destination country) is
REFUSED_HERE: another provider may well deliver it, and the provider is fine for everything else.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.logs import logger
from chalicelib.providers.deadline import Answer, AnswerTooLarge, call_within
from chalicelib.providers.secrets import ProviderSecrets, SecretSource, SecretUnavailable

MAX_STORED_BODY = 1024  # characters of a provider answer kept in sms_responses


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    REFUSED = "refused"
    REFUSED_HERE = "refused_here"
    THROTTLED = "throttled"
    PROVIDER_FAILURE = "provider_failure"

    @property
    def counts_for_health(self) -> bool:
        return self in (Outcome.ACCEPTED, Outcome.PROVIDER_FAILURE)


@dataclass(frozen=True)
class SendResult:
    provider: str
    outcome: Outcome
    status_code: int | None
    latency_ms: int
    message_id: str | None = None  # the vendor's id of the message: what its delivery receipts will name
    error: str | None = None
    response_data: dict[str, Any] | None = None
    configuration_problem: bool = False


@dataclass(frozen=True)
class OutgoingSms:
    """One SMS as the dispatcher hands it to a provider."""

    phone: str
    text: str
    request_id: str
    attempt: int
    sender: str | None = None  # the client's sender id (None: the provider's configured one)
    validity_s: int | None = None  # what is left of the client's time to live (None: the provider's default)


class Provider(Protocol):
    name: str
    timeout_s: float

    def send(self, sms: OutgoingSms) -> SendResult: ...


class ProviderEntry(BaseModel):
    """The fields of an ``SMS_PROVIDERS`` entry that every kind has; each kind adds its own."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    # The entry's fields that hold credentials: never shown, and read from a secret when one is named.
    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ()
    # The field holding the address the credentials travel to (outside the local stage: https only).
    ENDPOINT_FIELD: ClassVar[str] = ""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    rate_limit: int = Field(default=50, ge=1, le=100_000)
    weight: int = Field(default=1, ge=1, le=1000)
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    secret_id: str | None = Field(default=None, min_length=1, max_length=2048)

    @property
    def endpoint(self) -> str | None:
        return getattr(self, self.ENDPOINT_FIELD) if self.ENDPOINT_FIELD else None

    @property
    def configured_sender(self) -> str | None:
        """The sender id this provider sends from when a request names none, written as a request's ``from`` would
        write it (kinds that configure one override); any client may name it (intake.py)."""
        return None

    def missing_secrets(self, available: frozenset[str]) -> list[str]:
        """The credential fields this entry still needs when ``available`` ones are known (kinds override)."""
        return []


# The class of a vendor's answer in its table: an Outcome, or CONFIGURATION (a provider failure that is also a
# configuration problem). The names vendor modules write their tables with.
REFUSED = Outcome.REFUSED
REFUSED_HERE = Outcome.REFUSED_HERE
THROTTLED = Outcome.THROTTLED
FAILURE = Outcome.PROVIDER_FAILURE
CONFIGURATION = "configuration"
AnswerClass = Outcome | str


@dataclass(frozen=True)
class Verdict:
    """What an adapter made of one answer."""

    outcome: Outcome
    status_code: int | None = None
    message_id: str | None = None
    error: str | None = None
    response_data: dict[str, Any] | None = None
    configuration_problem: bool = False

    @classmethod
    def of(cls, answer_class: AnswerClass, status_code: int | None, error: str,
           data: dict[str, Any] | None = None) -> Verdict:
        """The verdict on an answer a vendor's table classed (CONFIGURATION: a misconfigured provider)."""
        if answer_class == CONFIGURATION:
            return misconfigured(status_code, error, data)
        return cls(Outcome(answer_class), status_code, None, error, data)


def accepted(status_code: int, message_id: str, data: dict[str, Any]) -> Verdict:
    return Verdict(Outcome.ACCEPTED, status_code, message_id, None, data)


def misconfigured(status_code: int | None, error: str, data: dict[str, Any] | None = None) -> Verdict:
    return Verdict(Outcome.PROVIDER_FAILURE, status_code, None, error, data, configuration_problem=True)


def failed(status_code: int | None, error: str, data: dict[str, Any] | None = None) -> Verdict:
    return Verdict(Outcome.PROVIDER_FAILURE, status_code, None, error, data)


def transport_failure(exc: Exception, timeout_s: float) -> Verdict | None:
    """The verdict on what went wrong on the wire (the answer too large, a timeout, a connection error); None
    for any other exception. Every adapter's, whether it speaks HTTP itself or through boto3."""
    if isinstance(exc, AnswerTooLarge):
        return failed(None, str(exc))
    if isinstance(exc, httpx.TimeoutException):
        return failed(None, f"timeout after {timeout_s:g} s")
    if isinstance(exc, httpx.HTTPError):
        return failed(None, f"connection error: {type(exc).__name__}")
    return None


def stored_text(body: bytes) -> dict[str, Any]:
    """An answer that is not the expected JSON, kept (cut) for the attempt record."""
    return {"raw": body[:MAX_STORED_BODY].decode("utf-8", errors="replace")}


class ProviderAdapter(ABC):
    """Time the send, get the credentials, turn what went wrong into a result, log configuration problems.

    Subclasses implement ``exchange`` (the vendor's request and the classification of its answer)."""

    kind: ClassVar[str]

    def __init__(self, config: ProviderEntry, secrets: SecretSource | None = None):
        self.name = config.name
        self.timeout_s = config.timeout_s
        self._config = config
        # Without a source of secrets: the credentials written in the entry itself.
        self._secrets = secrets or ProviderSecrets(config, cache=None, shared_secret_id=None)

    def send(self, sms: OutgoingSms) -> SendResult:
        started = time.perf_counter()
        try:
            credentials = self._secrets.get()
        except SecretUnavailable as exc:
            verdict = (misconfigured(None, exc.message) if exc.configuration_problem
                       else failed(None, exc.message))
        else:
            verdict = self.exchange(sms, credentials)
        if verdict.configuration_problem:
            # Rotated credentials show up as an auth failure: read the secret again before the next send.
            self._secrets.invalidate()
            logger.warning("provider configuration problem", extra={
                "provider": self.name, "kind": self.kind, "status_code": verdict.status_code,
                "problem": verdict.error})
        return SendResult(self.name, verdict.outcome, verdict.status_code, _elapsed_ms(started), verdict.message_id,
                          verdict.error, verdict.response_data, verdict.configuration_problem)

    @abstractmethod
    def exchange(self, sms: OutgoingSms, credentials: dict[str, str]) -> Verdict:
        """Send one SMS the vendor's way and classify its answer (or what went wrong)."""


class HttpProviderAdapter(ProviderAdapter):
    """An adapter that builds the vendor's HTTP request itself and sends it on the shared, bounded client."""

    def __init__(self, config: ProviderEntry, http: httpx.Client, secrets: SecretSource | None = None):
        super().__init__(config, secrets)
        self._http = http

    def exchange(self, sms: OutgoingSms, credentials: dict[str, str]) -> Verdict:
        request = self.build_request(sms, credentials)
        try:
            answer = call_within(self._http, request, timeout_s=self.timeout_s)
        except (AnswerTooLarge, httpx.HTTPError) as exc:
            return transport_failure(exc, self.timeout_s)
        return self.classify(answer)

    @abstractmethod
    def build_request(self, sms: OutgoingSms, credentials: dict[str, str]) -> httpx.Request:
        """The vendor's request for one SMS, on ``self._http``."""

    @abstractmethod
    def classify(self, answer: Answer) -> Verdict:
        """The verdict on the vendor's answer (the vendor's table in docs/providers.md)."""


def _elapsed_ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
