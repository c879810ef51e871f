"""The registry (chalicelib/vendors/__init__.py) is the one list of vendor kinds: settings accepts an entry of each
kind it lists and no other, the webhook route takes the methods each descriptor declares, the delivery events go
to the kinds that declare them, and the local stack has a simulator for each. Nothing here names a kind: a new
one is checked by adding it to KINDS."""

from __future__ import annotations

import json
import typing

import httpx
import pytest

from chalicelib.errors import (
    ConfigurationError,
    DependencyUnavailable,
    MethodNotAllowed,
    NotFound,
    SignatureInvalid,
)
from chalicelib.providers.base import transport_failure
from chalicelib.providers.secrets import SecretUnavailable
from chalicelib.receipts.delivery_events import DeliveryEvents
from chalicelib.receipts.webhook_call import WebhookCall
from chalicelib.receipts.webhooks import WebhookReceiver
from chalicelib.settings import get_settings
from chalicelib.vendors import DEFAULT_KIND, KINDS, delivery_event_receipt, kind_named
from chalicelib.vendors.kind import VendorKind, http_adapter
from localdev.simulators import WIRE_FORMATS

pytestmark = pytest.mark.unit

HTTP_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")


def entry_of(kind: VendorKind, name: str | None = None) -> dict:
    """A valid SMS_PROVIDERS entry of ``kind``: the one the local stack writes for its simulator."""
    _, fields = WIRE_FORMATS[kind.name].local_setup("http://127.0.0.1:9999", {})
    return {"name": name or kind.name.replace("-", ""), "kind": kind.name, **fields}


def providers_of(*entries: dict) -> dict:
    settings = get_settings({"STAGE": "local", "SMS_PROVIDERS": json.dumps(list(entries))})
    return {config.name: config for config in settings.providers}


def test_the_kinds_have_distinct_names_and_models():
    assert len({kind.name for kind in KINDS}) == len({kind.config for kind in KINDS}) == len(KINDS) >= 4
    assert KINDS[0].name == DEFAULT_KIND
    assert all(kind_named(kind.name) is kind for kind in KINDS)
    with pytest.raises(KeyError):
        kind_named("sinch")


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
def test_settings_accept_an_entry_of_every_kind_of_the_registry(kind):
    [config] = providers_of(entry_of(kind)).values()
    assert type(config) is kind.config
    assert config.kind == kind.name
    assert typing.get_args(kind.config.model_fields["kind"].annotation) == (kind.name,)


def test_settings_accept_every_kind_together_and_refuse_any_other_by_the_registrys_list():
    assert len(providers_of(*(entry_of(kind) for kind in KINDS))) == len(KINDS)
    expected = ", ".join(repr(kind.name) for kind in KINDS)
    with pytest.raises(ConfigurationError, match=f"provider 'x' \\(sinch\\): kind: must be one of {expected}"):
        providers_of({"name": "x", "kind": "sinch"})


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
def test_the_webhook_takes_the_methods_its_kind_declares(kind):
    config = next(iter(providers_of(entry_of(kind, "p")).values()))
    receiver = WebhookReceiver(providers={"p": config}, secrets={}, applier=None, clock=lambda: 0.0)
    for method in HTTP_METHODS:
        if method in kind.webhook_methods:
            continue
        call = WebhookCall(method=method, headers={}, query=[], body=b"", called_url="http://x/webhooks/p")
        if kind.takes_webhooks:
            with pytest.raises(MethodNotAllowed) as refused:
                receiver.receive("p", call)
            assert refused.value.allowed == kind.webhook_methods
        else:
            with pytest.raises(NotFound):
                receiver.receive("p", call)


@pytest.mark.parametrize("kind", [kind for kind in KINDS if kind.takes_webhooks], ids=lambda kind: kind.name)
def test_a_kinds_receipts_are_signed_with_one_of_its_secret_fields(kind):
    assert kind.signed_with in kind.config.SECRET_FIELDS
    assert set(kind.webhook_methods) <= set(HTTP_METHODS)


def test_delivery_events_are_read_by_the_one_kind_that_declares_them():
    [events] = [kind for kind in KINDS if kind.delivery_events]
    assert not events.takes_webhooks
    receipt = delivery_event_receipt(json.dumps({"eventType": "TEXT_DELIVERED", "messageId": "m-1"}), "mine")
    assert (receipt.provider, receipt.message_id) == ("mine", "m-1")


def test_the_delivery_events_consumer_reads_with_the_receipt_reader_it_is_given():
    applied = []

    class Applier:
        def apply(self, receipt):
            applied.append(receipt)

    class Record:
        message_id, body = "sqs-1", "the body"

    events = DeliveryEvents(Applier(), ["only"], receipt_of=lambda body, default: _Receipt(body, default))
    assert events.apply_record(Record())
    assert applied == [_Receipt("the body", "only")]
    assert DeliveryEvents(Applier(), ["one", "two"])._default_provider is None


class _Receipt(typing.NamedTuple):
    body: str
    provider: str | None
    vendor_status: str = "x"


def test_the_local_stack_has_a_simulator_for_every_kind():
    assert set(WIRE_FORMATS) == {kind.name for kind in KINDS}


@pytest.mark.parametrize("fields, problem", [
    pytest.param({"webhook_methods": ("POST",)}, "go together", id="methods-without-reader"),
    pytest.param({"signed_with": "k", "webhook_receipt": lambda *_: None}, "go together", id="reader-without-methods"),
    pytest.param({"webhook_methods": ("POST",), "signed_with": "k", "webhook_receipt": lambda *_: None,
                  "delivery_events": lambda *_: None}, "not both", id="webhook-and-events"),
])
def test_a_descriptor_declares_its_receipts_one_way(fields, problem):
    config = KINDS[0].config
    with pytest.raises(ValueError, match=problem):
        VendorKind(name="x", config=config, adapter=http_adapter(lambda *_: None), **fields)


def test_an_http_adapter_factory_passes_the_entry_the_client_and_the_secrets():
    factory = http_adapter(lambda config, http, secrets: (config, http, secrets))
    assert factory("entry", "client", "secrets", "eu-west-1") == ("entry", "client", "secrets")


class _Secrets:
    def __init__(self, answer):
        self._answer = answer

    def get(self):
        if isinstance(self._answer, Exception):
            raise self._answer
        return self._answer


@pytest.mark.parametrize("kind", [kind for kind in KINDS if kind.takes_webhooks], ids=lambda kind: kind.name)
@pytest.mark.parametrize("answer, refusal", [
    pytest.param({}, SignatureInvalid, id="no-signing-secret"),
    pytest.param(SecretUnavailable("gone", configuration_problem=True), SignatureInvalid, id="secret-misconfigured"),
    pytest.param(SecretUnavailable("down", configuration_problem=False), DependencyUnavailable,
                 id="secrets-manager-down"),
])
def test_a_webhook_without_its_kinds_signing_secret_is_refused(kind, answer, refusal):
    config = next(iter(providers_of(entry_of(kind, "p")).values()))
    receiver = WebhookReceiver(providers={"p": config}, secrets={"p": _Secrets(answer)}, applier=None,
                               clock=lambda: 0.0)
    call = WebhookCall(method=kind.webhook_methods[0], headers={}, query=[], body=b"", called_url="http://x/p")
    with pytest.raises(refusal) as refused:
        receiver.receive("p", call)
    if refusal is SignatureInvalid:
        assert kind.signed_with in refused.value.message


def test_only_the_wires_failures_are_transport_failures():
    assert transport_failure(ValueError("not the wire"), 1.0) is None
    assert transport_failure(httpx.ConnectError("refused"), 1.0).error == "connection error: ConnectError"
    assert transport_failure(httpx.ReadTimeout("slow"), 2.5).error == "timeout after 2.5 s"
