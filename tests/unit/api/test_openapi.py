import json
import re
import shutil
import subprocess
from urllib.parse import urljoin

import pytest

from chalicelib.api.openapi import (
    DOCUMENT_URL_FROM_DOCS_PAGE,
    REF_TEMPLATE,
    base_path,
    build_openapi,
    commonmark_descriptions,
    render_docs_page,
)
from chalicelib.api.pause_body import PauseProviderBody
from chalicelib.api.responses import ErrorBody, HealthView, ProviderList, SmsAccepted, SmsList, SmsRequestView
from chalicelib.api.send_body import SendSmsBody, parse_send_request
from chalicelib.api.send_options import REFERENCE_PATTERN
from chalicelib.lifecycle import Status
from chalicelib.storage.queries import CURSOR_PATTERN

pytestmark = pytest.mark.unit

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def document():
    return build_openapi(version="1.2.3")


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert method in HTTP_METHODS
            yield path, method, operation


def test_document_is_valid_openapi_3_1(document):
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(document)
    assert document["openapi"].startswith("3.1")


def test_document_is_plain_json(document):
    assert json.loads(json.dumps(document)) == document


def test_every_ref_resolves(document):
    def refs(node):
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    found = list(refs(document))
    assert found
    for ref in found:
        assert ref.startswith("#/")
        target = document
        for part in ref[2:].split("/"):
            target = target[part]
        assert isinstance(target, dict)


def test_routes_and_methods(document):
    assert {(path, method) for path, method, _ in operations(document)} == {
        ("/api/sms", "post"),
        ("/api/sms", "get"),
        ("/api/sms/{id}", "get"),
        ("/api/providers", "get"),
        ("/api/providers/{name}/pause", "post"),
        ("/api/providers/{name}/resume", "post"),
        ("/webhooks/{provider}", "post"),
        ("/webhooks/{provider}", "get"),
        ("/health", "get"),
        ("/openapi.json", "get"),
        ("/docs", "get"),
    }


def test_every_client_and_dependency_error_is_an_error_body(document):
    error_body = {"$ref": REF_TEMPLATE.format(model="ErrorBody")}
    checked = 0
    for path, _, operation in operations(document):
        for status, response in operation["responses"].items():
            if status.startswith("4") or (status == "503" and path.startswith("/api/")):
                assert response["content"]["application/json"]["schema"] == error_body, (path, status)
                checked += 1
    assert checked >= 15


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        ("/api/sms", "post", {"202", "400", "401", "403", "409", "413", "415", "422", "429", "500", "503"}),
        ("/api/sms", "get", {"200", "400", "401", "403", "500", "503"}),
        ("/api/sms/{id}", "get", {"200", "400", "401", "403", "404", "500", "503"}),
        ("/api/providers", "get", {"200", "401", "403", "500", "503"}),
        ("/health", "get", {"200", "500", "503"}),
        ("/webhooks/{provider}", "post", {"204", "400", "401", "403", "404", "409", "413", "500", "503"}),
        ("/webhooks/{provider}", "get", {"204", "400", "401", "403", "404", "405", "409", "413", "500", "503"}),
    ],
)
def test_each_route_documents_its_statuses(document, path, method, statuses):
    # tests/functional/test_statuses_are_declared.py makes each route answer each of these.
    assert set(document["paths"][path][method]["responses"]) == statuses


@pytest.mark.parametrize(("path", "role"), [("/api/sms", "send"), ("/api/providers", "operator")])
def test_a_403_names_the_role_the_route_needs(document, path, role):
    assert f"({role})" in document["paths"][path]["get"]["responses"]["403"]["description"]


def test_a_429_says_when_to_try_again(document):
    answer = document["paths"]["/api/sms"]["post"]["responses"]["429"]
    assert {"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(answer["headers"])


def descriptions(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "description" and isinstance(value, str):
                yield value
            else:
                yield from descriptions(value)
    elif isinstance(node, list):
        for item in node:
            yield from descriptions(item)


def test_descriptions_mark_code_the_commonmark_way(document):
    """Model docstrings say ``code`` (reStructuredText); OpenAPI descriptions are CommonMark: `code`."""
    texts = list(descriptions(document))
    assert not [text for text in texts if "``" in text]
    assert any("`POST /api/sms`" in text for text in texts)


def test_api_key_is_required_on_api_routes_only(document):
    scheme = document["components"]["securitySchemes"]["ApiKey"]
    assert scheme == {"type": "apiKey", "in": "header", "name": "X-Api-Key"}
    for path, _, operation in operations(document):
        expected = [{"ApiKey": []}] if path.startswith("/api/") else []
        assert operation["security"] == expected, path
    assert "security" not in document


@pytest.mark.parametrize(
    ("model", "mode"),
    [
        (SendSmsBody, "validation"),
        (PauseProviderBody, "validation"),
        (SmsAccepted, "serialization"),
        (SmsRequestView, "serialization"),
        (SmsList, "serialization"),
        (ProviderList, "serialization"),
        (ErrorBody, "serialization"),
        (HealthView, "serialization"),
    ],
)
def test_component_schemas_are_the_models_own(document, model, mode):
    generated = commonmark_descriptions(model.model_json_schema(ref_template=REF_TEMPLATE, mode=mode))
    nested = generated.pop("$defs", {})
    schemas = document["components"]["schemas"]
    assert schemas[model.__name__] == generated
    for name, schema in nested.items():
        assert schemas[name] == schema


def test_send_sms_body_refuses_extra_fields_in_the_schema_too(document):
    schema = document["components"]["schemas"]["SendSmsBody"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"phone", "text"}


def test_request_body_example_is_accepted_by_the_validator(document):
    (example,) = document["components"]["schemas"]["SendSmsBody"]["examples"]
    assert example["phone"] == "+14155550100"
    assert parse_send_request(json.dumps(example), "application/json", default_region=None,
                              max_body_bytes=16384).phone == "+14155550100"


def test_send_sms_takes_an_optional_idempotency_key(document):
    send = document["paths"]["/api/sms"]["post"]
    assert send["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/SendSmsBody"}
    (idempotency_key,) = send["parameters"]
    assert idempotency_key["name"] == "Idempotency-Key"
    assert idempotency_key["in"] == "header"
    assert idempotency_key["required"] is False
    assert idempotency_key["schema"] == {"type": "string", "minLength": 1, "maxLength": 255,
                                         "pattern": "^[!-~]{1,255}$"}


def test_list_parameters_follow_the_query_rules(document):
    parameters = {p["name"]: p for p in document["paths"]["/api/sms"]["get"]["parameters"]}
    assert set(parameters) == {"status", "provider", "since", "until", "reference", "limit", "cursor"}
    assert all(p["in"] == "query" and p["required"] is False and p["description"] for p in parameters.values())
    assert parameters["status"]["schema"] == {"$ref": "#/components/schemas/Status"}
    assert document["components"]["schemas"]["Status"]["enum"] == list(Status)
    assert parameters["provider"]["schema"] == {"type": "string"}
    assert parameters["since"]["schema"] == {"type": "string", "format": "date-time"}
    assert parameters["until"]["schema"] == {"type": "string", "format": "date-time"}
    assert parameters["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
    assert parameters["cursor"]["schema"]["pattern"] == CURSOR_PATTERN
    assert parameters["reference"]["schema"] == {"type": "string", "maxLength": 128, "pattern": REFERENCE_PATTERN}


@pytest.mark.parametrize("action", ["pause", "resume"])
def test_pause_and_resume_name_the_provider_in_the_path(action):
    operation = build_openapi(version="1.2.3", provider_names=("alpha", "beta"))["paths"][
        f"/api/providers/{{name}}/{action}"]["post"]
    (parameter,) = operation["parameters"]
    assert (parameter["name"], parameter["in"], parameter["required"]) == ("name", "path", True)
    assert parameter["schema"] == {"type": "string", "enum": ["alpha", "beta"]}
    assert ("requestBody" in operation) == (action == "pause")


def test_pause_body_refuses_extra_fields_in_the_schema_too(document):
    schema = document["components"]["schemas"]["PauseProviderBody"]
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["reason"]
    assert schema["properties"]["reason"]["maxLength"] == 200


def test_sms_id_is_a_required_path_parameter(document):
    (parameter,) = document["paths"]["/api/sms/{id}"]["get"]["parameters"]
    assert (parameter["name"], parameter["in"], parameter["required"]) == ("id", "path", True)


def test_info_and_servers():
    document = build_openapi(title="Gateway", version="9.9", server_url="https://sms.example.com")
    assert document["info"]["title"] == "Gateway"
    assert document["info"]["version"] == "9.9"
    assert document["servers"] == [{"url": "https://sms.example.com"}]
    assert "servers" not in build_openapi(version="1")


# --- the docs page ---


def test_docs_page_loads_nothing_from_the_network():
    page = render_docs_page()
    assert not re.search(r"https?://", page)
    assert not re.search(r"<(script|link|img|iframe)[^>]*(src|href)=", page)
    assert "connect-src 'self'" in page
    assert 'const OPENAPI_URL = "openapi.json";' in page


@pytest.mark.parametrize(
    ("page_url", "document_url"),
    [
        pytest.param("http://127.0.0.1:8000/docs", "http://127.0.0.1:8000/openapi.json", id="local"),
        pytest.param("https://a1.execute-api.us-east-1.amazonaws.com/prod/docs",
                     "https://a1.execute-api.us-east-1.amazonaws.com/prod/openapi.json", id="stage-path"),
        pytest.param("https://sms.example.com/v1/docs", "https://sms.example.com/v1/openapi.json",
                     id="custom-domain-base-path"),
    ],
)
def test_docs_page_fetches_the_document_beside_itself(page_url, document_url):
    """The page's fetch is relative, so under API Gateway's stage path it does not ask the host root."""
    assert urljoin(page_url, DOCUMENT_URL_FROM_DOCS_PAGE) == document_url


@pytest.mark.parametrize(
    ("requested", "route", "prefix"),
    [
        pytest.param("/openapi.json", "/openapi.json", "", id="chalice-local"),
        pytest.param(None, "/openapi.json", "", id="no-request-context-path"),
        pytest.param("/prod/openapi.json", "/openapi.json", "/prod", id="execute-api-stage"),
        pytest.param("/v1/sms/openapi.json", "/openapi.json", "/v1/sms", id="custom-domain-mapping"),
        pytest.param("/other", "/openapi.json", "", id="unrelated-path"),
    ],
)
def test_base_path_is_what_precedes_the_route(requested, route, prefix):
    assert base_path(requested, route) == prefix


def test_docs_page_cannot_be_broken_out_of_by_its_url():
    page = render_docs_page('/x</script><script>alert(1)//&"')
    assert page.count("</script>") == 1
    assert 'const OPENAPI_URL = "/x\\u003c/script\\u003e\\u003cscript\\u003ealert(1)//\\u0026\\"";' in page


# A DOM small enough to run the page's script in node: elements record attributes and children.
FAKE_BROWSER = """
class Node {
  constructor(tag) { this.tag = tag; this.attributes = {}; this.children = []; this.textContent = ""; }
  setAttribute(name, value) { this.attributes[name] = String(value); }
  append(...children) { this.children.push(...children); }
  replaceChildren(...children) { this.children = children; this.textContent = ""; }
}
const elements = {};
globalThis.Node = Node;
globalThis.document = {
  title: "",
  createElement: (tag) => new Node(tag),
  getElementById: (id) => (elements[id] ||= new Node("div")),
};
const answer = JSON.parse(require("fs").readFileSync(0, "utf8"));
globalThis.fetch = async () => ({ok: answer.ok, status: answer.status, json: async () => answer.spec});
const text = (node) => typeof node === "string" ? node : node.textContent + node.children.map(text).join(" ");
const sections = (node) => node.children.filter((child) => child.tag === "section").length;
"""


def run_docs_page_script(tmp_path, answer):
    script = re.search(r"<script>(.*)</script>", render_docs_page(), re.DOTALL).group(1)
    harness = tmp_path / "page.js"
    harness.write_text(
        FAKE_BROWSER
        + script
        + """
setTimeout(() => console.log(JSON.stringify({
  title: document.title, status: document.getElementById("status").textContent,
  operations: sections(document.getElementById("operations")),
  schemas: sections(document.getElementById("schemas")),
  text: text(document.getElementById("operations")) + text(document.getElementById("schemas")),
})), 50);
"""
    )
    result = subprocess.run(
        [NODE, str(harness)], input=json.dumps(answer), capture_output=True, text=True, timeout=10, check=True
    )
    return json.loads(result.stdout)


NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")


@needs_node
def test_docs_page_renders_every_operation_and_schema(tmp_path, document):
    page = run_docs_page_script(tmp_path, {"ok": True, "status": 200, "spec": document})
    assert page["title"] == "SMS Gateway 1.2.3"
    assert page["operations"] == len(list(operations(document)))
    assert page["schemas"] == len(document["components"]["schemas"])
    for shown in ("/api/sms/{id}", "Idempotency-Key", "needs ApiKey", "SendSmsBody", "date-time", "maximum: 100"):
        assert shown in page["text"]


@needs_node
def test_docs_page_says_when_the_document_cannot_be_loaded(tmp_path):
    page = run_docs_page_script(tmp_path, {"ok": False, "status": 503, "spec": None})
    assert page["status"] == "Could not load openapi.json: HTTP 503"
