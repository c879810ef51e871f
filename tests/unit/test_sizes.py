"""No chalicelib module over 300 lines and no class over 150 (issue 21): a module or a class past that does more
than one thing. Read from the source with ast; a class's size is ``end_lineno - lineno + 1`` (docstring and
decorators' lines after the ``class`` line included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
CHALICELIB = ROOT / "chalicelib"
MAX_MODULE_LINES = 300
MAX_CLASS_LINES = 150


def modules() -> list[Path]:
    return sorted(CHALICELIB.rglob("*.py"))


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def too_long_modules(paths: list[Path], limit: int = MAX_MODULE_LINES) -> dict[str, int]:
    lengths = {relative(path): len(path.read_text().splitlines()) for path in paths}
    return {name: lines for name, lines in lengths.items() if lines > limit}


def too_long_classes(source: str, limit: int = MAX_CLASS_LINES) -> dict[str, int]:
    """Every class (nested ones too) longer than ``limit`` lines."""
    sizes = {node.name: node.end_lineno - node.lineno + 1 for node in ast.walk(ast.parse(source))
             if isinstance(node, ast.ClassDef)}
    return {name: lines for name, lines in sizes.items() if lines > limit}


def test_no_chalicelib_module_is_over_300_lines():
    assert too_long_modules(modules()) == {}


def test_no_chalicelib_class_is_over_150_lines():
    found = {f"{relative(path)}:{name}": lines for path in modules()
             for name, lines in too_long_classes(path.read_text()).items()}
    assert found == {}


def test_the_rules_see_every_module_and_class():
    assert len(modules()) > 50 and CHALICELIB / "router.py" in modules()
    assert too_long_classes("class A:\n" + "    x = 1\n" * 150) == {"A": 151}
    assert too_long_classes("class A:\n" + "    x = 1\n" * 149) == {}
    assert too_long_classes("def f():\n    class Inner:\n" + "        x = 1\n" * 151) == {"Inner": 152}
