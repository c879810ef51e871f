"""`.env.example` is the configuration reference a newcomer copies: it must match the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.settings import ENV_DEFAULTS

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def _example() -> dict[str, str]:
    pairs = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            pairs[name] = value
    return pairs


def test_env_example_lists_every_setting_with_its_default():
    example = _example()
    for name, default in ENV_DEFAULTS.items():
        assert name in example, f"{name} missing from .env.example"
        assert example[name] == default, f"{name}: .env.example says {example[name]!r}, code says {default!r}"


def test_env_example_documents_every_variable():
    """Each group of variables sits right under the comment that explains it."""
    text = (ROOT / ".env.example").read_text().splitlines()
    for index, line in enumerate(text):
        if line and not line.startswith("#"):
            above = text[index - 1]
            assert above.startswith("#") or "=" in above, f"{line.split('=')[0]} has no comment above it"
