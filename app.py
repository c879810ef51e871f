"""The handlers of the route table (chalicelib/api/routes.py: each route's path, method, role and every status it
answers), registered from it by ``handles``. Each handler parses, calls one service in chalicelib, and answers;
gateway errors are mapped to HTTP once (chalicelib/api/http_errors.py)."""

from __future__ import annotations

import functools
import os

from chalice import Chalice, Rate, Response
from chalice.app import Request

from chalicelib import wiring
from chalicelib.api.cors import cors_headers
from chalicelib.api.http_errors import error_response, json_errors, rate_limit_headers
from chalicelib.api.list_query import parse_list_query
from chalicelib.api.openapi import base_path, build_openapi, render_docs_page
from chalicelib.api.params import parse_idempotency_key, parse_request_id
from chalicelib.api.pause_body import parse_pause_request
from chalicelib.api.responses import HealthView, ProviderList, ProviderView, SmsAccepted, SmsList, SmsRequestView
from chalicelib.api.routes import Route, routes_of
from chalicelib.api.send_body import parse_send_request
from chalicelib.api.webhook_call import webhook_call
from chalicelib.aws_deadline import invocation_deadline
from chalicelib.callbacks import check_callback_target
from chalicelib.clients import Client, Role
from chalicelib.dependency_check import check_dependencies
from chalicelib.errors import GatewayError, MethodNotAllowed, NotFound
from chalicelib.event_sources import callback_event_source, delivery_events_source, dispatch_event_source
from chalicelib.sqs_batch import QueueRecord
from chalicelib.storage.queries import ListFilter

app = Chalice(app_name="sms-gateway")

if os.environ.get("AWS_CHALICE_CLI_MODE"):
    # The chalice CLI is importing this file (deploy, package, local; never Lambda, which carries no
    # infra/): it adds what chalice's configuration cannot say (infra/chalice_hooks.py lists it).
    from infra.chalice_hooks import install_cli_hooks

    install_cli_hooks()

API_VERSION = "1.0.0"

# Every content type reaches the handler, so that a wrong one gets the API's own 415 error shape.
ACCEPTED_CONTENT_TYPES = ["*/*"]


def handles(view):
    """Register ``view`` for every route of the route table that names it: with the content types the route takes,
    its client authenticated for the route's role (the view's first argument), and its errors in the API's shape."""
    for route in routes_of(view.__name__):
        content_types = {"content_types": ACCEPTED_CONTENT_TYPES} if route.any_content_type else {}
        app.route(route.path, methods=[route.method], **content_types)(_for_route(route, view))
    return view


def _for_route(route: Route, view):
    @functools.wraps(view)
    def answer(**params):
        if route.role is None:
            return view(**params)
        return view(_client(route.role), **params)

    return json_errors(answer) if route.json_errors else answer


def _client(role: Role) -> Client:
    client = wiring.get_registry().authenticate(app.current_request.headers.get("x-api-key"))
    client.require(role)
    return client


def _provider_names() -> tuple[str, ...]:
    try:
        return tuple(provider.name for provider in wiring.get_settings().providers)
    except GatewayError:  # a broken configuration: the document still renders, the API routes say 503
        return ()


@app.middleware("all")
def aws_calls_end_before_the_invocation(event, get_response):
    """Every AWS call a handler makes ends before the invocation's time runs out (chalicelib/aws_deadline.py)."""
    with invocation_deadline(event.lambda_context if isinstance(event, Request) else event.context):
        return get_response(event)


@app.middleware("http")
def add_cors_headers(event, get_response):
    response = get_response(event)
    try:
        allow_origin = wiring.get_settings().cors_allow_origin
    except GatewayError:  # a broken configuration: the route has already answered 503 saying so
        return response
    response.headers.update(cors_headers(allow_origin, event.headers.get("origin")))
    return response


@app.middleware("http")
def method_not_allowed_in_api_shape(event, get_response):
    """chalice itself answers a method that a route does not declare; the client still gets the API's shape."""
    response = get_response(event)
    if response.status_code != 405 or response.headers.get("Allow"):  # not chalice's own (a route's, in shape)
        return response
    allowed = response.headers.get("Allow", "")
    return error_response(MethodNotAllowed(f"{event.method} is not allowed on this path; allowed: {allowed}",
                                           field="method", allowed=(allowed,) if allowed else ()))


@handles
def cors_preflight(request_id=None):
    headers = cors_headers(wiring.get_settings().cors_allow_origin, app.current_request.headers.get("origin"),
                           preflight=True)
    return Response(body="", status_code=204 if headers else 403, headers=headers)


@handles
def openapi_document():
    request = app.current_request
    return build_openapi(version=API_VERSION, server_url=base_path(request.context.get("path"), request.path) or "/",
                         provider_names=_provider_names())


@handles
def docs_page():
    return Response(body=render_docs_page(), status_code=200, headers={"Content-Type": "text/html; charset=utf-8"})


@handles
def send_sms(client):
    request = app.current_request
    settings = wiring.get_settings()
    sms = parse_send_request(request.raw_body, request.headers.get("content-type"),
                             default_region=settings.default_region, max_body_bytes=settings.max_body_bytes,
                             allowed_number_types=settings.allowed_number_types,
                             allow_http_callback=settings.is_local)
    if sms.callback_url is not None:
        check_callback_target(sms.callback_url, settings)
    idempotency_key = parse_idempotency_key(request.headers.get("idempotency-key"))
    accepted = wiring.get_intake().accept(sms, client=client, idempotency_key=idempotency_key)
    return Response(body=SmsAccepted.of(accepted).to_body(), status_code=202,
                    headers=rate_limit_headers(accepted.rate_limit))


@handles
def list_sms(client):
    query = parse_list_query(app.current_request.query_params,
                             known_providers=[p.name for p in wiring.get_settings().providers])
    wanted = ListFilter(client=client.name, status=query.status, provider=query.provider, since=query.since,
                        until=query.until, reference=query.reference)
    items, next_cursor = wiring.get_queries().list_requests(
        wanted, limit=query.limit, cursor=query.cursor, cursor_key=wiring.get_registry().cursor_key)
    return SmsList.page(items, next_cursor).to_body()


@handles
def get_sms(client, request_id):
    request_id = parse_request_id(request_id)
    requests = wiring.get_requests()
    request = requests.get(request_id, client=client.name)
    if request is None:  # another client's request is as unknown to this one as a request that never was
        raise NotFound(f"no SMS request with id {request_id}", field="id")
    return SmsRequestView.with_attempts(request, requests.attempts_of(request_id)).to_body()


@handles
def list_providers(client):
    return ProviderList.of(wiring.get_router().provider_states()).to_body()


@handles
def pause_provider(client, name):
    request = app.current_request
    reason, until_ms = parse_pause_request(request.raw_body, request.headers.get("content-type"),
                                           max_body_bytes=wiring.get_settings().max_body_bytes)
    return ProviderView.of(wiring.get_router().pause(name, reason=reason, by=client.name, until_ms=until_ms)).to_body()


@handles
def resume_provider(client, name):
    return ProviderView.of(wiring.get_router().resume(name, by=client.name)).to_body()


@handles
def delivery_receipt(provider):
    """A vendor's delivery receipt; its signature is the authentication (no API key)."""
    wiring.get_webhooks().receive(provider, webhook_call(app.current_request))
    return Response(body="", status_code=204)


@handles
def health():
    healthy, checks = check_dependencies(wiring.dependency_checks())
    return Response(body=HealthView(status="ok" if healthy else "unavailable", checks=checks).to_body(),
                    status_code=200 if healthy else 503)


# chalice applies the stage's environment_variables before importing this file, so each stage binds its own
# queue (DISPATCH_QUEUE_ARN from `make infra`, else DISPATCH_QUEUE_NAME) and DISPATCHER_MAX_CONCURRENCY.
@app.on_sqs_message(batch_size=10, maximum_batching_window_in_seconds=1, **dispatch_event_source())
def dispatch_sms(event):
    records = [QueueRecord.of(record.to_dict()) for record in event]
    # No send starts that the invocation's remaining time could cut off (dispatcher.py, step 0).
    time_left_s = event.context.get_remaining_time_in_millis() / 1000 if event.context else None
    return wiring.get_dispatcher().dispatch_batch(records, time_left_s=time_left_s)


# Its own queue (CALLBACK_QUEUE_ARN, else CALLBACK_QUEUE_NAME): a slow client URL never holds up a send.
@app.on_sqs_message(batch_size=10, maximum_batching_window_in_seconds=1, **callback_event_source())
def deliver_callbacks(event):
    records = [QueueRecord.of(record.to_dict()) for record in event]
    return wiring.get_callback_delivery().deliver_batch(records)


# AWS End User Messaging delivery events: configuration set -> SNS -> this queue (DELIVERY_EVENTS_QUEUE_ARN from
# `make infra`, else DELIVERY_EVENTS_QUEUE_NAME).
@app.on_sqs_message(batch_size=10, maximum_batching_window_in_seconds=1, **delivery_events_source())
def apply_delivery_events(event):
    return wiring.get_delivery_events().apply_batch([QueueRecord.of(record.to_dict()) for record in event])


@app.schedule(Rate(1, unit=Rate.MINUTES))
def sweep_stuck_requests(event):
    return wiring.get_sweeper().sweep().__dict__


@app.schedule(Rate(1, unit=Rate.MINUTES))
def snapshot_provider_health(event):
    wiring.get_health_snapshots().save(wiring.get_router().provider_states())
    return {"saved": True}
