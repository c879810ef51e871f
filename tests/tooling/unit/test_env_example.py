"""`.env.example` is the configuration reference a newcomer copies: it is rendered from the declared settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.settings import ENV_NAMES
from localdev.env_example import env_defaults, render
from localdev.stack_settings import StackSettings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]


def _example() -> dict[str, str]:
    pairs = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            pairs[name] = value
    return pairs


def test_env_example_is_the_rendering_of_the_declared_settings():
    assert (ROOT / ".env.example").read_text() == render(), (
        ".env.example is out of date: python -m localdev.env_example > .env.example")


def test_env_example_lists_every_setting_with_its_default():
    example = _example()
    for name, default in env_defaults().items():
        assert example.get(name) == default, f"{name}: .env.example says {example.get(name)!r}, code says {default!r}"
    stack_names = {field.alias for field in StackSettings.model_fields.values()}
    assert set(example) == set(ENV_NAMES) | stack_names


def test_env_example_documents_every_variable():
    """Each group of variables sits right under the comment that explains it."""
    text = (ROOT / ".env.example").read_text().splitlines()
    for index, line in enumerate(text):
        if line and not line.startswith("#"):
            above = text[index - 1]
            assert above.startswith("#") or "=" in above, f"{line.split('=')[0]} has no comment above it"
