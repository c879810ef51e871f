"""Render `.env.example` from the declared settings: `python -m localdev.env_example > .env.example`."""

from __future__ import annotations

import textwrap

from pydantic import BaseModel

from chalicelib.settings import Settings, as_env_value
from localdev.stack_settings import StackSettings

HEADER = """\
# Every setting the gateway and its local stack read, with its default.
# Copy to .env for `make run` (real environment variables win over .env).
# Generated from chalicelib/settings.py and localdev/stack_settings.py: python -m localdev.env_example
"""


def _section(title: str, model: type[BaseModel]) -> str:
    lines = [f"\n# --- {title} ---"]
    for field in model.model_fields.values():
        if field.description:
            lines += textwrap.wrap(field.description, width=110, initial_indent="# ", subsequent_indent="# ")
        lines.append(f"{field.alias}={as_env_value(field.default)}")
    return "\n".join(lines) + "\n"


def render() -> str:
    return (HEADER + _section("Gateway (read by the Lambdas; chalicelib/settings.py)", Settings)
            + _section("Local stack only (localdev/stack_settings.py)", StackSettings))


if __name__ == "__main__":
    print(render(), end="")
