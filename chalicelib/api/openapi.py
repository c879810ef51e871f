"""The OpenAPI 3.1 document of the HTTP API, and an offline page that renders it.

Every schema comes from a pydantic model (``send_body``, ``list_query``, ``responses``): the document
cannot drift from the validation or from the answers, and OpenAPI 3.1 takes pydantic's JSON Schema
(2020-12) as it is. Only what no model describes is written here: paths, parameters that are
headers, and which responses each route has. The page that renders it is docs_page.html.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api.list_query import ListQuery
from chalicelib.api.params import IDEMPOTENCY_KEY_MAX_CHARS, IDEMPOTENCY_KEY_PATTERN, REQUEST_ID_PATTERN
from chalicelib.api.responses import ErrorBody, HealthView, ProviderList, SmsAccepted, SmsList, SmsRequestView
from chalicelib.api.send_body import SendSmsBody

REF_TEMPLATE = "#/components/schemas/{model}"
API_KEY_SCHEME = "ApiKey"

_REQUEST_MODELS: tuple[type[BaseModel], ...] = (SendSmsBody,)
_RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    SmsAccepted,
    SmsRequestView,
    SmsList,
    ProviderList,
    ErrorBody,
    HealthView,
)

_ERROR_DESCRIPTIONS = {
    "400": "The request is malformed; error.field names the body field, parameter or header at fault.",
    "401": "X-Api-Key is missing or not a key of this gateway.",
    "403": "This API key's client lacks the role this route needs ({role}).",
    "404": "No request has this id.",
    "409": "This Idempotency-Key was used with another body, or an earlier call with it is still being "
    "processed (retry after Retry-After).",
    "413": "The body is larger than the gateway accepts.",
    "415": "The body is not application/json in UTF-8.",
    "422": "Well-formed but refused: the text needs more SMS segments than the gateway sends for one request, "
    "or this API key may not send to this number or from this sender (from: only the client's own senders or a "
    "provider's configured one).",
    "429": "This client's rate limit (requests per second) or daily quota is used up; Retry-After says when "
    "to try again, and the RateLimit-* headers which limit ran out.",
    "500": "An error in the gateway itself (a bug); it is logged with its trace.",
    "503": "A dependency of the gateway (database, queue, Redis) is not answering, or its configuration is "
    "broken; try again later.",
}

# What the 429 carries besides its body (client_limits.py: the policy that ran out first).
_RATE_LIMIT_HEADERS = {
    "Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}},
    "RateLimit-Limit": {"description": "The limit that ran out.", "schema": {"type": "integer"}},
    "RateLimit-Remaining": {"description": "Requests left under it (0).", "schema": {"type": "integer"}},
    "RateLimit-Reset": {"description": "Seconds until it has room again.", "schema": {"type": "integer"}},
}


def build_openapi(*, title: str = "SMS Gateway", version: str, server_url: str | None = None,
                  provider_names: tuple[str, ...] = ()) -> dict:
    """The OpenAPI 3.1 document served at ``/openapi.json``; ``server_url`` is where its paths live (the
    stage path on API Gateway, see ``base_path``); ``provider_names``, when known, are the values the
    ``provider`` filter takes."""
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Send SMS through several upstream providers, with rate limits, health-aware "
            "routing and retries. Every /api route needs an X-Api-Key header.",
        },
        "paths": _paths(provider_names),
        "components": {
            "schemas": _component_schemas(),
            "securitySchemes": {API_KEY_SCHEME: {"type": "apiKey", "in": "header", "name": "X-Api-Key"}},
        },
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return commonmark_descriptions(document)


# Docstrings become descriptions (pydantic takes a model's docstring), and docstrings mark code the
# reStructuredText way, ``like this``; OpenAPI descriptions are CommonMark, where code is `like this`.
_RST_LITERAL = re.compile(r"``(.+?)``")


def commonmark_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _RST_LITERAL.sub(r"`\1`", value) if key == "description" and isinstance(value, str)
                else commonmark_descriptions(value) for key, value in node.items()}
    if isinstance(node, list):
        return [commonmark_descriptions(item) for item in node]
    return node


def _component_schemas() -> dict[str, Any]:
    _, top_level = models_json_schema(
        [(model, "validation") for model in _REQUEST_MODELS] + [(model, "serialization") for model in _RESPONSE_MODELS],
        ref_template=REF_TEMPLATE,
    )
    return top_level["$defs"]


def _paths(provider_names: tuple[str, ...]) -> dict[str, Any]:
    api = [{API_KEY_SCHEME: []}]
    return {
        "/api/sms": {
            "post": {
                "operationId": "sendSms",
                "summary": "Accept an SMS for delivery",
                "description": "Stores the request and queues it; a provider is chosen when it is sent. "
                "With send_at it is not sent before that time (up to 7 days ahead). "
                "The same Idempotency-Key with the same body returns the first answer again.",
                "tags": ["sms"],
                "security": api,
                "parameters": [_idempotency_key_parameter()],
                "requestBody": {"required": True, "content": _json_content(SendSmsBody)},
                "responses": {
                    "202": {**_response("Accepted and queued.", SmsAccepted), "links": {
                        "GetSmsById": {"operationId": "getSms", "parameters": {"id": "$response.body#/id"},
                                       "description": "The accepted request, with its status and attempts."}}},
                    **_errors("400", "401", "403", "409", "413", "415", "422", "429", "500", "503", role="send"),
                },
            },
            "get": {
                "operationId": "listSms",
                "summary": "List requests, newest first",
                "tags": ["sms"],
                "security": api,
                "parameters": _list_query_parameters(provider_names),
                "responses": {
                    "200": _response("One page of requests.", SmsList),
                    **_errors("400", "401", "403", "500", "503", role="send"),
                },
            },
        },
        "/api/sms/{id}": {
            "get": {
                "operationId": "getSms",
                "summary": "A request with every attempt",
                "tags": ["sms"],
                "security": api,
                "parameters": [
                    {"name": "id", "in": "path", "required": True,
                     "schema": {"type": "string", "pattern": REQUEST_ID_PATTERN}},
                ],
                "responses": {
                    "200": _response("The request.", SmsRequestView),
                    **_errors("400", "401", "403", "404", "500", "503", role="send"),
                },
            },
        },
        "/api/providers": {
            "get": {
                "operationId": "listProviders",
                "summary": "Health, counts and limits of every provider",
                "tags": ["providers"],
                "security": api,
                "responses": {"200": _response("Every provider.", ProviderList),
                              **_errors("401", "403", "500", "503", role="operator")},
            },
        },
        "/webhooks/{provider}": _webhook_path(provider_names),
        "/health": {
            "get": {
                "operationId": "health",
                "summary": "Whether the gateway reaches its dependencies",
                "tags": ["operations"],
                "security": [],
                "responses": {
                    "200": _response("Every dependency answers.", HealthView),
                    "503": _response("A dependency does not answer.", HealthView),
                    **_errors("500"),
                },
            },
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "tags": ["operations"],
                "security": [],
                "responses": {
                    "200": {
                        "description": "The OpenAPI document.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            },
        },
        "/docs": {
            "get": {
                "operationId": "docs",
                "summary": "A page that renders this document",
                "tags": ["operations"],
                "security": [],
                "responses": {
                    "200": {
                        "description": "HTML page.",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    }
                },
            },
        },
    }


_WEBHOOK_ERRORS = {
    "400": "Not a receipt of this provider's kind (a required field is missing, JSON that is not an object).",
    "401": "No signature: the vendor's signature header or parameter is missing.",
    "403": "The signature does not verify (wrong secret or webhook_url, or older than 5 minutes).",
    "404": "No provider of this name takes receipts here (aws receipts come through SQS).",
    "405": "This provider's kind sends its receipts by another method (only Vonage uses GET).",
    "409": "The request's answer is not recorded yet: send the receipt again after Retry-After.",
    "500": _ERROR_DESCRIPTIONS["500"],
    "413": "The body is over 64 KB, or has more than 100 fields or query parameters: refused unread.",
    "503": "A dependency of the gateway is not answering; send the receipt again later.",
}


def _webhook_path(provider_names: tuple[str, ...]) -> dict[str, Any]:
    """Vendors call it, not clients: authenticated by the vendor's signature (docs/providers.md#delivery-receipts)."""
    provider_schema: dict[str, Any] = {"type": "string"}
    if provider_names:
        provider_schema["enum"] = list(provider_names)

    def operation(method: str, summary: str, statuses: tuple[str, ...]) -> dict[str, Any]:
        return {
            "operationId": f"deliveryReceipt{method.capitalize()}",
            "summary": summary,
            "description": "A delivery receipt in the vendor's own format, signed the vendor's way; the provider's "
            "kind decides which (twilio: form POST with X-Twilio-Signature; vonage: GET query, form or JSON "
            "POST with sig and timestamp; http-json: JSON POST with X-Signature). No API key.",
            "tags": ["receipts"],
            "security": [],
            "parameters": [{"name": "provider", "in": "path", "required": True, "schema": provider_schema}],
            "responses": {
                "204": {"description": "Verified and acknowledged (applied, a repeat, interim, or an unknown "
                        "message id)."},
                **{status: _response(_WEBHOOK_ERRORS[status], ErrorBody) for status in statuses},
            },
        }

    # Every kind takes POST; only vonage takes GET, so only a GET can come by the wrong method (405).
    return {"post": operation("post", "A vendor's delivery receipt",
                              ("400", "401", "403", "404", "409", "413", "500", "503")),
            "get": operation("get", "A Vonage delivery receipt sent by GET",
                             ("400", "401", "403", "404", "405", "409", "413", "500", "503"))}


def _idempotency_key_parameter() -> dict[str, Any]:
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "Makes retries of this call safe: the same key and body send one SMS.",
        "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX_CHARS,
                   "pattern": IDEMPOTENCY_KEY_PATTERN},
    }


def _list_query_parameters(provider_names: tuple[str, ...]) -> list[dict[str, Any]]:
    """One query parameter per ListQuery field, its schema taken from the model; the providers a
    deployment has are configuration, not a model, so they come from the caller."""
    properties = ListQuery.model_json_schema(ref_template=REF_TEMPLATE)["properties"]
    parameters = [_query_parameter(name, schema) for name, schema in properties.items()]
    for parameter in parameters:
        if parameter["name"] == "provider" and provider_names:
            parameter["schema"]["enum"] = list(provider_names)
    return parameters


def _query_parameter(name: str, property_schema: dict[str, Any]) -> dict[str, Any]:
    schema = {key: value for key, value in property_schema.items() if key not in ("title", "description")}
    # An optional field is "X or null" in the model; in a query it is simply left out.
    if "anyOf" in schema:
        (present,) = [branch for branch in schema.pop("anyOf") if branch != {"type": "null"}]
        schema.pop("default")
        schema = {**present, **schema}
    return {
        "name": name,
        "in": "query",
        "required": False,
        # parse_list_query reads ?status= as "not given", whatever the parameter's schema.
        "allowEmptyValue": True,
        "description": property_schema["description"],
        "schema": schema,
    }


def _json_content(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": REF_TEMPLATE.format(model=model.__name__)}}}


def _response(description: str, model: type[BaseModel]) -> dict[str, Any]:
    return {"description": description, "content": _json_content(model)}


def _errors(*statuses: str, role: str = "") -> dict[str, Any]:
    """The error answers of a route; ``role`` is the one its 403 names (clients.py: ``Client.require``)."""
    answers = {status: _response(_ERROR_DESCRIPTIONS[status].format(role=role), ErrorBody) for status in statuses}
    if "429" in answers:
        answers["429"]["headers"] = _RATE_LIMIT_HEADERS
    return answers


def base_path(requested_path: str | None, route_path: str) -> str:
    """The prefix in front of the app's routes in the URL the client used: "" locally, "/<stage>" on API
    Gateway's own host, the base path mapping behind a custom domain.

    API Gateway gives the handler both the path the client asked for (requestContext.path, e.g.
    "/prod/openapi.json") and the route it matched ("/openapi.json"); the difference is the prefix.
    Only literal routes are asked (the docs and the document), so a suffix match is exact."""
    if requested_path and requested_path != route_path and requested_path.endswith(route_path):
        return requested_path[: -len(route_path)]
    return ""


# Relative on purpose: from <prefix>/docs the browser fetches <prefix>/openapi.json, whatever the prefix.
DOCUMENT_URL_FROM_DOCS_PAGE = "openapi.json"


def render_docs_page(openapi_url: str = DOCUMENT_URL_FROM_DOCS_PAGE) -> str:
    """A self-contained HTML page that renders the document at ``openapi_url`` (no CDN, works offline)."""
    # json.dumps quotes the URL for JS; escaping < > & keeps "</script>" in it from closing the tag.
    url_literal = json.dumps(openapi_url).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return _docs_page_template().replace("__OPENAPI_URL__", url_literal)


@cache
def _docs_page_template() -> str:
    return (Path(__file__).parent / "docs_page.html").read_text()
