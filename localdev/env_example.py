"""Render `.env.example` from the declared settings: `python -m localdev.env_example > .env.example`.

The variables come from chalicelib/settings.py (grouped by the policy object that reads them,
chalicelib/policies.py) and localdev/stack_settings.py; this module writes them as an environment file.
"""

from __future__ import annotations

import textwrap
from typing import Any

from pydantic.fields import FieldInfo

from chalicelib.settings import GROUPS, setting_fields
from localdev.stack_settings import StackSettings

HEADER = """\
# Every setting the gateway and its local stack read, with its default.
# Copy to .env for `make run` (real environment variables win over .env).
# Generated from chalicelib/settings.py, chalicelib/policies.py and localdev/stack_settings.py:
# python -m localdev.env_example
"""


def as_env_value(value: Any) -> str:
    """A default as it is written in an environment: empty for none, lists comma-separated."""
    if value is None:
        return ""
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def env_defaults() -> dict[str, str]:
    """Each gateway variable with its default as it is written in an environment."""
    return {field.alias: as_env_value(field.default) for _, field in setting_fields()}


def _lines(fields: list[FieldInfo]) -> list[str]:
    lines = []
    for field in fields:
        if field.description:
            lines += textwrap.wrap(field.description, width=110, initial_indent="# ", subsequent_indent="# ")
        lines.append(f"{field.alias}={as_env_value(field.default)}")
    return lines


def _gateway() -> str:
    """Settings' own variables, and each group's under a line naming its policy object (settings.<group>)."""
    lines = ["\n# --- Gateway (read by the Lambdas; chalicelib/settings.py) ---"]
    fields = setting_fields()
    for index, (group, field) in enumerate(fields):
        if group is not None and (index == 0 or fields[index - 1][0] != group):
            lines.append(f"# [settings.{group}: {GROUPS[group].__name__}]")
        lines += _lines([field])
    return "\n".join(lines) + "\n"


def render() -> str:
    stack = "\n".join(["\n# --- Local stack only (localdev/stack_settings.py) ---",
                       *_lines(list(StackSettings.model_fields.values()))]) + "\n"
    return HEADER + _gateway() + stack


if __name__ == "__main__":
    print(render(), end="")
