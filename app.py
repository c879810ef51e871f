"""The routing table. Each handler parses, calls one service in chalicelib, and maps errors."""

from __future__ import annotations

import functools

from chalice import Chalice, Rate, Response

from chalicelib import wiring
from chalicelib.api.cors import cors_headers
from chalicelib.api.list_query import parse_list_query
from chalicelib.api.openapi import build_openapi, render_docs_page
from chalicelib.api.params import parse_idempotency_key, parse_request_id
from chalicelib.api.responses import ErrorBody, HealthView, ProviderList, SmsAccepted, SmsList, SmsRequestView
from chalicelib.api.send_body import parse_send_request
from chalicelib.dependency_check import check_dependencies
from chalicelib.errors import GatewayError, NotFound
from chalicelib.logs import logger
from chalicelib.sqs_batch import QueueRecord

app = Chalice(app_name="sms-gateway")
API_VERSION = "1.0.0"

# Every content type reaches the handler, so that a wrong one gets the API's own 415 error shape.
ACCEPTED_CONTENT_TYPES = ["*/*"]


def json_errors(view):
    """Map gateway errors to the API's one error shape: {"error": {"code", "message", "field"}}."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except GatewayError as exc:
            status = getattr(exc, "status", None) or 503  # a retryable error without a status: try later
            if status == 500:
                logger.error("request failed", extra={"error": exc.message, "code": exc.code})
            elif status >= 500:
                logger.warning("dependency unavailable", extra={"error": exc.message, "code": exc.code})
            return Response(body=ErrorBody.of(exc).to_body(), status_code=status, headers=_retry_after(status))
        except Exception:  # a bug: still the API's error shape, and logged with its trace
            logger.exception("unhandled error")
            return Response(body=ErrorBody.of(GatewayError("internal error", code="internal_error")).to_body(),
                            status_code=500)

    return wrapper


def _retry_after(status: int) -> dict[str, str]:
    return {"Retry-After": "1"} if status == 503 else {}


def _client_id() -> str:
    return wiring.get_authenticator().authenticate(app.current_request.headers.get("x-api-key"))


@app.middleware("http")
def add_cors_headers(event, get_response):
    response = get_response(event)
    try:
        allow_origin = wiring.get_settings().cors_allow_origin
    except GatewayError:  # a broken configuration: the route has already answered 503 saying so
        return response
    response.headers.update(cors_headers(allow_origin, event.headers.get("origin")))
    return response


@app.route("/api/sms", methods=["OPTIONS"])
@app.route("/api/sms/{request_id}", methods=["OPTIONS"])
@app.route("/api/providers", methods=["OPTIONS"])
def cors_preflight(request_id=None):
    headers = cors_headers(wiring.get_settings().cors_allow_origin, app.current_request.headers.get("origin"),
                           preflight=True)
    return Response(body="", status_code=204 if headers else 403, headers=headers)


@app.route("/openapi.json", methods=["GET"])
def openapi_document():
    return build_openapi(version=API_VERSION)


@app.route("/docs", methods=["GET"])
def docs_page():
    return Response(body=render_docs_page(), status_code=200, headers={"Content-Type": "text/html; charset=utf-8"})


@app.route("/api/sms", methods=["POST"], content_types=ACCEPTED_CONTENT_TYPES)
@json_errors
def send_sms():
    request = app.current_request
    client_id = _client_id()
    settings = wiring.get_settings()
    sms = parse_send_request(request.raw_body, request.headers.get("content-type"),
                             default_region=settings.default_region, max_body_bytes=settings.max_body_bytes)
    idempotency_key = parse_idempotency_key(request.headers.get("idempotency-key"))
    accepted = wiring.get_intake().accept(sms, client_id=client_id, idempotency_key=idempotency_key)
    return Response(body=SmsAccepted.of(accepted).to_body(), status_code=202)


@app.route("/api/sms", methods=["GET"])
@json_errors
def list_sms():
    _client_id()
    query = parse_list_query(app.current_request.query_params,
                             known_providers=[p.name for p in wiring.get_settings().providers])
    items, next_cursor = wiring.get_queries().list_requests(
        status=query.status, provider=query.provider, since=query.since, until=query.until,
        limit=query.limit, cursor=query.cursor,
    )
    return SmsList.page(items, next_cursor).to_body()


@app.route("/api/sms/{request_id}", methods=["GET"])
@json_errors
def get_sms(request_id):
    _client_id()
    request_id = parse_request_id(request_id)
    requests = wiring.get_requests()
    request = requests.get(request_id)
    if request is None:
        raise NotFound(f"no SMS request with id {request_id}", field="id")
    return SmsRequestView.with_attempts(request, requests.attempts_of(request_id)).to_body()


@app.route("/api/providers", methods=["GET"])
@json_errors
def list_providers():
    _client_id()
    return ProviderList.of(wiring.get_router().provider_states()).to_body()


@app.route("/health", methods=["GET"])
@json_errors
def health():
    healthy, checks = check_dependencies(wiring.dependency_checks())
    return Response(body=HealthView(status="ok" if healthy else "unavailable", checks=checks).to_body(),
                    status_code=200 if healthy else 503)


@app.on_sqs_message(queue="sms-dispatch", batch_size=10, maximum_batching_window_in_seconds=1)
def dispatch_sms(event):
    records = [QueueRecord.of(record.to_dict()) for record in event]
    return wiring.get_dispatcher().dispatch_batch(records)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def sweep_stuck_requests(event):
    return wiring.get_sweeper().sweep().__dict__


@app.schedule(Rate(1, unit=Rate.MINUTES))
def snapshot_provider_health(event):
    wiring.get_health_snapshots().save(wiring.get_router().provider_states())
    return {"saved": True}
