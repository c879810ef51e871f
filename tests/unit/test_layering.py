"""Imports point down the layers (docs/architecture.md, "Layers"), read from the source with ast.

    api/ (the HTTP edge)  ->  domain (intake, dispatcher, receipts/, callbacks/, ...)  ->  storage/, lifecycle
    chalicelib never imports tooling: infra/, localdev/, bench/, ops/ (the Lambda package carries none of them).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
CHALICELIB = ROOT / "chalicelib"
TOOLING = ("infra", "localdev", "bench", "ops", "tests")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    return imports_of(path.read_text(), package)


def imports_of(source: str, package: str) -> set[str]:
    """Every module the source names in an import, wherever the import stands (a function's or a branch's too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this file's package
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from chalicelib import api`
    return names


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


MODULES = {module_name(path): imported_modules(path) for path in sorted(CHALICELIB.rglob("*.py"))}


def offenders(modules: dict[str, set[str]], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    found = {name: sorted(i for i in imports if any(within(i, f) for f in forbidden))
             for name, imports in modules.items()}
    return {name: hits for name, hits in found.items() if hits}


def test_the_source_is_read():
    assert "chalicelib.storage.requests" in MODULES
    assert "chalicelib.api.send_body" in MODULES
    assert "chalicelib.valid_sms" in MODULES["chalicelib.api.send_body"]


def test_storage_imports_neither_receipts_nor_the_queue_nor_callbacks():
    storage = {name: imports for name, imports in MODULES.items() if within(name, "chalicelib.storage")}
    assert offenders(storage, ("chalicelib.receipts", "chalicelib.dispatch_queue", "chalicelib.callbacks")) == {}


def test_only_the_api_edge_imports_api():
    outside = {name: imports for name, imports in MODULES.items() if not within(name, "chalicelib.api")}
    assert offenders(outside, ("chalicelib.api",)) == {}


def test_chalicelib_imports_no_tooling():
    assert offenders(MODULES, TOOLING) == {}


@pytest.mark.parametrize("source, expected", [
    pytest.param("import chalicelib.api.cors\n", {"chalicelib.api.cors"}, id="import"),
    pytest.param("from chalicelib import api\n", {"chalicelib", "chalicelib.api"}, id="from-package"),
    pytest.param("def f():\n    from chalicelib.receipts.applier import X\n",
                 {"chalicelib.receipts.applier", "chalicelib.receipts.applier.X"}, id="inside-a-function"),
    pytest.param("from ..receipts import model\n", {"chalicelib.receipts", "chalicelib.receipts.model"},
                 id="relative"),
])
def test_every_form_of_import_is_read(source, expected):
    assert imports_of(source, "chalicelib.storage") == expected


def _guarded_by_the_cli(node: ast.If) -> bool:
    """``if os.environ.get("AWS_CHALICE_CLI_MODE"):``: true only while the chalice CLI imports app.py."""
    test = node.test
    return (isinstance(test, ast.Call) and isinstance(test.func, ast.Attribute) and test.func.attr == "get"
            and ast.unparse(test.func.value) == "os.environ"
            and [ast.unparse(arg) for arg in test.args] == ["'AWS_CHALICE_CLI_MODE'"] and not node.orelse)


def test_app_imports_tooling_only_while_the_chalice_cli_runs():
    """The Lambda entry point reaches no tooling: its one tooling import, the CLI hooks (infra/chalice_hooks.py, which
    chalice has no configuration for), stands in the branch that runs only under the chalice CLI; Lambda never sets
    AWS_CHALICE_CLI_MODE and its package carries no infra/ or localdev/ (tests/tooling/unit/test_deploy_package.py)."""
    tree = ast.parse((ROOT / "app.py").read_text())
    guarded = [node for node in tree.body if isinstance(node, ast.If) and _guarded_by_the_cli(node)]
    assert len(guarded) == 1
    inside = {id(node) for node in ast.walk(guarded[0])}
    tooling = [node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)
               and any(within(name, package) for name in imports_of(ast.unparse(node), "") for package in TOOLING)]
    assert [ast.unparse(node) for node in tooling] == ["from infra.chalice_hooks import install_cli_hooks"]
    assert all(id(node) in inside for node in tooling)


# ------------------------------------------------------------------ vendors

# The registry (chalicelib/vendors/__init__.py) and the descriptor type (vendors/kind.py) are what the rest of
# chalicelib may import of vendors/; a vendor's own module only the registry imports.
VENDOR_MODULES = tuple(name for name in MODULES
                       if within(name, "chalicelib.vendors") and name not in ("chalicelib.vendors",
                                                                              "chalicelib.vendors.kind"))
# settings.py builds the local stage's default providers (LOCAL_SIMULATORS) as http-json entries.
KNOWN_VENDOR_IMPORTS = {"chalicelib.settings": ["chalicelib.vendors.http_json",
                                                "chalicelib.vendors.http_json.HttpJsonConfig"]}


def test_the_vendor_modules_are_read():
    assert {"chalicelib.vendors.http_json", "chalicelib.vendors.twilio", "chalicelib.vendors.twilio.adapter",
            "chalicelib.vendors.aws.events"} <= set(VENDOR_MODULES)


def test_the_shared_provider_and_receipt_code_imports_no_vendor_but_through_the_registry():
    shared = {name: imports for name, imports in MODULES.items()
              if within(name, "chalicelib.providers") or within(name, "chalicelib.receipts")}
    assert offenders(shared, VENDOR_MODULES) == {}


def test_nothing_outside_vendors_imports_a_vendors_module():
    outside = {name: imports for name, imports in MODULES.items() if not within(name, "chalicelib.vendors")}
    assert offenders(outside, VENDOR_MODULES) == {}


def test_vendors_import_only_what_every_vendor_shares_below_them():
    vendors = {name: imports for name, imports in MODULES.items() if within(name, "chalicelib.vendors")}
    above = ("chalicelib.api", "chalicelib.settings", "chalicelib.wiring", "chalicelib.dispatcher",
             "chalicelib.receipts.webhooks", "chalicelib.receipts.delivery_events", "chalicelib.receipts.applier",
             "chalicelib.storage")
    assert offenders(vendors, above) == {}


def test_a_vendor_imports_no_other_vendor():
    for name in VENDOR_MODULES:
        own = name.split(".")[2]
        others = tuple(other for other in VENDOR_MODULES if other.split(".")[2] != own)
        assert offenders({name: MODULES[name]}, others) == {}, name
