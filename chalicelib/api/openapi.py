"""The OpenAPI 3.1 document of the HTTP API, and an offline page that renders it.

Every schema comes from a pydantic model (``send_body``, ``list_query``, ``responses``): the document
cannot drift from the validation or from the answers, and OpenAPI 3.1 takes pydantic's JSON Schema
(2020-12) as it is. The paths, and which answers each route has, are the route table's
(routes.py); only what neither describes is written here: the parameters that are headers or paths. The
page that renders it is docs_page.html.
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
from chalicelib.api.pause_body import PauseProviderBody
from chalicelib.api.responses import ErrorBody, HealthView, ProviderList, SmsAccepted, SmsList, SmsRequestView
from chalicelib.api.routes import ROUTES, Reply, Route
from chalicelib.api.send_body import SendSmsBody

REF_TEMPLATE = "#/components/schemas/{model}"
API_KEY_SCHEME = "ApiKey"

_REQUEST_MODELS: tuple[type[BaseModel], ...] = (SendSmsBody, PauseProviderBody)
_RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    SmsAccepted,
    SmsRequestView,
    SmsList,
    ProviderList,
    ErrorBody,
    HealthView,
)

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
    """Every documented route of the route table (routes.py), in its order."""
    paths: dict[str, Any] = {}
    for route in ROUTES:
        if route.operation_id is not None:
            paths.setdefault(route.documented_path, {})[route.method.lower()] = _operation(route, provider_names)
    return paths


def _operation(route: Route, provider_names: tuple[str, ...]) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": route.operation_id, "summary": route.summary}
    if route.description:
        operation["description"] = route.description
    operation["tags"] = list(route.tags)
    operation["security"] = [{API_KEY_SCHEME: []}] if route.role else []
    if route.parameters:
        operation["parameters"] = [parameter for name in route.parameters
                                   for parameter in _PARAMETERS[name](provider_names)]
    if route.body is not None:
        operation["requestBody"] = {"required": True, "content": _json_content(route.body)}
    operation["responses"] = {str(status): _answer(reply) for status, reply in route.answers.items()}
    return operation


def _answer(reply: Reply) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": reply.description}
    if reply.model is not None:
        answer["content"] = _json_content(reply.model)
    elif reply.content:
        answer["content"] = reply.content
    if reply.headers:
        answer["headers"] = reply.headers
    if reply.links:
        answer["links"] = reply.links
    return answer


def _provider_parameter(provider_names: tuple[str, ...]) -> list[dict[str, Any]]:
    provider_schema: dict[str, Any] = {"type": "string"}
    if provider_names:
        provider_schema["enum"] = list(provider_names)
    return [{"name": "provider", "in": "path", "required": True, "schema": provider_schema}]


def _provider_name_parameter(provider_names: tuple[str, ...]) -> list[dict[str, Any]]:
    (parameter,) = _provider_parameter(provider_names)
    return [{**parameter, "name": "name"}]


def _request_id_parameter(provider_names: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"name": "id", "in": "path", "required": True, "schema": {"type": "string", "pattern": REQUEST_ID_PATTERN}}]


def _idempotency_key_parameter(provider_names: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "Makes retries of this call safe: the same key and body send one SMS.",
        "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX_CHARS,
                   "pattern": IDEMPOTENCY_KEY_PATTERN},
    }]


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


# The parameters a route names (routes.py); the providers a deployment has are configuration, not a model.
_PARAMETERS = {
    "idempotency_key": _idempotency_key_parameter,
    "list_query": _list_query_parameters,
    "request_id": _request_id_parameter,
    "provider": _provider_parameter,
    "provider_name": _provider_name_parameter,
}


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
