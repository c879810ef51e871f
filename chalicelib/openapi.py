"""The OpenAPI 3.1 document of the HTTP API, and an offline page that renders it.

Every schema comes from a pydantic model in ``sms_request``: the document cannot drift from the
validation, and OpenAPI 3.1 takes pydantic's JSON Schema (2020-12) as it is. Only what no model
describes is written here: paths, parameters that are headers, and which responses each route has.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.sms_request import (
    IDEMPOTENCY_KEY_MAX_CHARS,
    IDEMPOTENCY_KEY_PATTERN,
    ErrorBody,
    HealthView,
    ListQuery,
    ProviderList,
    SendSmsBody,
    SmsAccepted,
    SmsList,
    SmsRequestView,
)

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
    "404": "No request has this id.",
    "409": "This Idempotency-Key was used with another body.",
    "413": "The body is larger than the gateway accepts.",
    "415": "The body is not application/json in UTF-8.",
    "422": "The text needs more SMS segments than the gateway sends for one request.",
    "503": "A dependency of the gateway (database, queue, Redis) is not answering; try again later.",
}


def build_openapi(*, title: str = "SMS Gateway", version: str, server_url: str | None = None) -> dict:
    """The OpenAPI 3.1 document served at ``/openapi.json``."""
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Send SMS through several upstream providers, with rate limits, health-aware "
            "routing and retries. Every /api route needs an X-Api-Key header.",
        },
        "paths": _paths(),
        "components": {
            "schemas": _component_schemas(),
            "securitySchemes": {API_KEY_SCHEME: {"type": "apiKey", "in": "header", "name": "X-Api-Key"}},
        },
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document


def _component_schemas() -> dict[str, Any]:
    _, top_level = models_json_schema(
        [(model, "validation") for model in _REQUEST_MODELS] + [(model, "serialization") for model in _RESPONSE_MODELS],
        ref_template=REF_TEMPLATE,
    )
    return top_level["$defs"]


def _paths() -> dict[str, Any]:
    api = [{API_KEY_SCHEME: []}]
    return {
        "/api/sms": {
            "post": {
                "operationId": "sendSms",
                "summary": "Accept an SMS for delivery",
                "description": "Stores the request and queues it; a provider is chosen when it is sent. "
                "The same Idempotency-Key with the same body returns the first answer again.",
                "tags": ["sms"],
                "security": api,
                "parameters": [_idempotency_key_parameter()],
                "requestBody": {"required": True, "content": _json_content(SendSmsBody)},
                "responses": {
                    "202": _response("Accepted and queued.", SmsAccepted),
                    **_errors("400", "401", "409", "413", "415", "422", "503"),
                },
            },
            "get": {
                "operationId": "listSms",
                "summary": "List requests, newest first",
                "tags": ["sms"],
                "security": api,
                "parameters": _list_query_parameters(),
                "responses": {
                    "200": _response("One page of requests.", SmsList),
                    **_errors("400", "401", "503"),
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
                     "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}},
                ],
                "responses": {
                    "200": _response("The request.", SmsRequestView),
                    **_errors("400", "401", "404", "503"),
                },
            },
        },
        "/api/providers": {
            "get": {
                "operationId": "listProviders",
                "summary": "Health, counts and limits of every provider",
                "tags": ["providers"],
                "security": api,
                "responses": {"200": _response("Every provider.", ProviderList), **_errors("401", "503")},
            },
        },
        "/health": {
            "get": {
                "operationId": "health",
                "summary": "Whether the gateway reaches its dependencies",
                "tags": ["operations"],
                "security": [],
                "responses": {
                    "200": _response("Every dependency answers.", HealthView),
                    "503": _response("A dependency does not answer.", HealthView),
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


def _idempotency_key_parameter() -> dict[str, Any]:
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "Makes retries of this call safe: the same key and body send one SMS.",
        "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX_CHARS,
                   "pattern": IDEMPOTENCY_KEY_PATTERN},
    }


def _list_query_parameters() -> list[dict[str, Any]]:
    """One query parameter per ListQuery field, its schema taken from the model."""
    properties = ListQuery.model_json_schema(ref_template=REF_TEMPLATE)["properties"]
    return [_query_parameter(name, schema) for name, schema in properties.items()]


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
        "description": property_schema["description"],
        "schema": schema,
    }


def _json_content(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": REF_TEMPLATE.format(model=model.__name__)}}}


def _response(description: str, model: type[BaseModel]) -> dict[str, Any]:
    return {"description": description, "content": _json_content(model)}


def _errors(*statuses: str) -> dict[str, Any]:
    return {status: _response(_ERROR_DESCRIPTIONS[status], ErrorBody) for status in statuses}


def render_docs_page(openapi_url: str = "/openapi.json") -> str:
    """A self-contained HTML page that renders the document at ``openapi_url`` (no CDN, works offline)."""
    # json.dumps quotes the URL for JS; escaping < > & keeps "</script>" in it from closing the tag.
    url_literal = json.dumps(openapi_url).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return _DOCS_PAGE.replace("__OPENAPI_URL__", url_literal)


_DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy"
      content="default-src 'none'; connect-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'">
<title>API documentation</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; color: #222; }
  body { margin: 0 auto; max-width: 60rem; padding: 1rem 2rem; }
  h2 { border-bottom: 1px solid #ddd; margin-top: 2.5rem; }
  section { border: 1px solid #ddd; border-radius: 6px; margin: 1rem 0; padding: 0 1rem .5rem; }
  .method { display: inline-block; min-width: 4rem; font-weight: bold; text-transform: uppercase; }
  .get { color: #0b6e99; } .post { color: #2f7d32; }
  .lock { font-size: .8rem; background: #fff3cd; border-radius: 4px; padding: 0 .4rem; margin-left: .5rem; }
  table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
  th, td { text-align: left; vertical-align: top; border-top: 1px solid #eee; padding: .25rem .5rem; }
  code, .type { font-family: ui-monospace, monospace; font-size: .9em; }
  .muted { color: #666; }
</style>
</head>
<body>
<h1 id="title">API documentation</h1>
<p id="status" class="muted">Loading the OpenAPI document…</p>
<noscript>This page needs JavaScript; the raw document is at <code>/openapi.json</code>.</noscript>
<div id="operations"></div>
<div id="schemas"></div>
<script>
"use strict";
const OPENAPI_URL = __OPENAPI_URL__;
const HTTP_METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function refName(ref) { return ref.split("/").pop(); }

function typeOf(schema) {
  if (!schema) return "";
  if (schema.$ref) return el("a", {href: "#schema-" + refName(schema.$ref)}, refName(schema.$ref));
  const union = schema.anyOf || schema.oneOf;
  if (union) {
    const span = el("span");
    union.forEach((branch, i) => { if (i) span.append(" | "); span.append(typeOf(branch)); });
    return span;
  }
  if (schema.type === "array") return el("span", {}, "list of ", typeOf(schema.items));
  if (schema.type === "object" && schema.additionalProperties) {
    return el("span", {}, "map of ", typeOf(schema.additionalProperties));
  }
  let text = schema.type || "any";
  if (schema.enum) text = schema.enum.map((value) => JSON.stringify(value)).join(" | ");
  if (schema.format) text += " (" + schema.format + ")";
  return text;
}

function constraints(schema) {
  const names = ["minimum", "maximum", "minLength", "maxLength", "pattern", "default"];
  return names.filter((name) => schema && schema[name] !== undefined)
    .map((name) => name + ": " + JSON.stringify(schema[name])).join(", ");
}

function table(headings, rows) {
  return el("table", {}, el("tr", {}, ...headings.map((h) => el("th", {}, h))),
    ...rows.map((cells) => el("tr", {}, ...cells.map((cell) => el("td", {}, cell)))));
}

function renderOperation(path, method, operation, globalSecurity) {
  const security = operation.security || globalSecurity || [];
  const section = el("section", {id: operation.operationId || ""},
    el("h3", {}, el("span", {class: "method " + method}, method), el("code", {}, path),
      security.length ? el("span", {class: "lock"}, "needs " + Object.keys(security[0]).join(", ")) : null),
    el("p", {}, operation.summary || ""),
    operation.description ? el("p", {class: "muted"}, operation.description) : null);
  const parameters = operation.parameters || [];
  if (parameters.length) {
    section.append(el("h4", {}, "Parameters"), table(["name", "in", "type", "rules", "description"],
      parameters.map((p) => [el("code", {}, p.name + (p.required ? " *" : "")), p.in, typeOf(p.schema),
        constraints(p.schema), p.description || ""])));
  }
  if (operation.requestBody) {
    const media = Object.entries(operation.requestBody.content);
    section.append(el("h4", {}, "Request body"),
      table(["media type", "schema"], media.map(([type, content]) => [type, typeOf(content.schema)])));
  }
  section.append(el("h4", {}, "Responses"), table(["status", "description", "schema"],
    Object.entries(operation.responses).map(([status, response]) => {
      const content = Object.values(response.content || {})[0];
      return [el("code", {}, status), response.description || "", content ? typeOf(content.schema) : ""];
    })));
  return section;
}

function renderSchema(name, schema) {
  const required = new Set(schema.required || []);
  const rows = Object.entries(schema.properties || {}).map(([field, property]) => [
    el("code", {}, field + (required.has(field) ? " *" : "")), typeOf(property), constraints(property),
    property.description || ""]);
  return el("section", {id: "schema-" + name}, el("h3", {}, name),
    schema.description ? el("p", {class: "muted"}, schema.description) : null,
    rows.length ? table(["field", "type", "rules", "description"], rows) : el("p", {}, typeOf(schema)));
}

function render(spec) {
  document.title = spec.info.title + " " + spec.info.version;
  document.getElementById("title").textContent = document.title;
  document.getElementById("status").textContent = spec.info.description || "";
  const operations = document.getElementById("operations");
  operations.append(el("h2", {}, "Operations"));
  for (const [path, item] of Object.entries(spec.paths || {})) {
    for (const [method, operation] of Object.entries(item)) {
      if (!HTTP_METHODS.includes(method)) continue;  // a path item also holds parameters, servers...
      operations.append(renderOperation(path, method, operation, spec.security));
    }
  }
  const schemas = document.getElementById("schemas");
  schemas.append(el("h2", {}, "Schemas"), el("p", {class: "muted"}, "* marks a required field."));
  for (const [name, schema] of Object.entries((spec.components || {}).schemas || {})) {
    schemas.append(renderSchema(name, schema));
  }
}

fetch(OPENAPI_URL)
  .then((response) => {
    if (!response.ok) throw new Error("HTTP " + response.status);
    return response.json();
  })
  .then(render)
  .catch((error) => {
    document.getElementById("status").textContent = "Could not load " + OPENAPI_URL + ": " + error.message;
  });
</script>
</body>
</html>
"""
