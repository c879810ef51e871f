"""Delivering one callback: guard the target, sign the body, POST it within a deadline, and on anything
but a 2xx try again later, for at least a day.

SQS cannot delay a message by more than 900 s, so a retry is a new message carrying its attempt number
and the time of the first try, delayed min(900, base x 2^(attempt-1)) s (base CALLBACK_RETRY_BASE_S;
retry_policy.py, the rule dispatch retries follow too):

    attempt   1    2    3     4     5     6     7 ... 101
    waits     -   30   60   120   240   480   900 ... 900        (base 30 s)
    at (s)    0   30   90   210   450   930  1830 ... 86430      one more try after 24 h have passed

After a failed try at least CALLBACK_RETRY_FOR_S (24 h) after the first one, the event goes to the
callbacks DLQ with its reason. So does a target the SSRF guard refuses at delivery time: it will not
become acceptable by waiting. A redirect is not followed (it could point anywhere): it is a failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from chalicelib.callbacks.events import CallbackEvent
from chalicelib.callbacks.queue import CallbackQueue
from chalicelib.callbacks.signing import SIGNATURE_HEADER, signature_header
from chalicelib.callbacks.targets import CallbackTarget, CallbackTargetRefused, Resolver, resolve_callback_target
from chalicelib.errors import DependencyUnavailable, GatewayError
from chalicelib.logs import log_context, logger
from chalicelib.providers.deadline import deadline_scope
from chalicelib.retry_policy import RetryPolicy
from chalicelib.sqs_batch import QueueRecord, process_batch

USER_AGENT = "sms-gateway-callbacks/1"


@dataclass(frozen=True)
class DeliveryTarget:
    local: bool
    allowed_hosts: tuple[str, ...]
    timeout_s: float


class CallbackDelivery:
    def __init__(self, *, http: httpx.Client, queue: CallbackQueue, secret_of: Callable[[str], str | None],
                 target: DeliveryTarget, retry: RetryPolicy, clock: Callable[[], float] = time.time,
                 resolver: Resolver | None = None):
        self._http = http
        self._queue = queue
        self._secret_of = secret_of
        self._target = target
        self._retry = retry
        self._clock = clock
        self._resolver = resolver

    def deliver_batch(self, records: Iterable[QueueRecord]) -> dict:
        return process_batch(records, self._deliver_record)

    def _deliver_record(self, record: QueueRecord) -> bool:
        event = CallbackEvent.from_body(record.body)
        with log_context(request_id=event.id, event_id=event.event_id, callback_attempt=event.attempt):
            return self.deliver(event)

    def deliver(self, event: CallbackEvent) -> bool:
        """Done with this message: delivered, re-queued for later, or sent to the DLQ. A failure to re-queue
        raises (the record comes back from SQS: nothing is lost)."""
        first_try_at = event.first_try_at or self._clock()
        try:
            target = self._resolve(event.url)
        except CallbackTargetRefused as exc:
            return self._dead(event, f"target refused: {exc.message}")
        except DependencyUnavailable as exc:
            return self._later(event, first_try_at, exc.message)
        try:
            secret = self._secret_of(event.client)
        except GatewayError as exc:  # the registry cannot be read now
            return self._later(event, first_try_at, f"client registry unavailable: {exc.message}")
        if not secret:
            return self._later(event, first_try_at, f"client {event.client} has no callback_secret")
        problem = self._post(event, target, secret)
        if problem is None:
            logger.info("callback delivered", extra={"status": event.status})
            return True
        return self._later(event, first_try_at, problem)

    def _resolve(self, url: str) -> CallbackTarget:
        return resolve_callback_target(url, local=self._target.local, allowed_hosts=self._target.allowed_hosts,
                                       resolver=self._resolver)

    def _post(self, event: CallbackEvent, target: CallbackTarget, secret: str) -> str | None:
        """None when the client answered 2xx, else what went wrong."""
        body = event.payload()
        request = self._http.build_request(
            "POST", pinned_url(event.url, target),
            content=body,
            headers={"Host": host_header(event.url), "Content-Type": "application/json", "User-Agent": USER_AGENT,
                     SIGNATURE_HEADER: signature_header(secret, body, int(self._clock())),
                     "X-Event-Id": event.event_id},
            # TLS: the certificate is checked against the URL's host, though we connect to its checked address
            extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
        )
        request.extensions["timeout"] = httpx.Timeout(self._target.timeout_s).as_dict()
        try:
            with deadline_scope(self._target.timeout_s):
                response = self._http.send(request, stream=True)
                response.close()  # the answer's body is not needed: only its status counts
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}"
        if 200 <= response.status_code < 300:
            return None
        return f"answered {response.status_code}"

    def _later(self, event: CallbackEvent, first_try_at: float, problem: str) -> bool:
        if self._retry.gives_up(event.attempt, first_try_at, self._clock()):
            return self._dead(event, f"no 2xx for {self._retry.retry_for_s} s ({event.attempt} attempts); "
                                     f"last: {problem}")
        delay_s = self._retry.delay_for(event.attempt)
        self._queue.send(event.next_try(first_try_at), delay_s=delay_s)
        logger.info("callback failed, retry scheduled", extra={"problem": problem, "delay_s": delay_s})
        return True

    def _dead(self, event: CallbackEvent, reason: str) -> bool:
        self._queue.send_to_dlq(event.dead(reason))
        logger.warning("callback sent to the DLQ", extra={"reason": reason, "status": event.status})
        return True


def pinned_url(url: str, target: CallbackTarget) -> str:
    """``url`` with its host replaced by the address the guard checked (the connection goes there)."""
    parts = urlsplit(url)
    address = target.addresses[0]
    host = f"[{address}]" if ":" in address else address
    return urlunsplit((parts.scheme, f"{host}:{target.port}", parts.path or "/", parts.query, ""))


def host_header(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return host if parts.port is None else f"{host}:{parts.port}"
