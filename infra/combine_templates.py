"""Combine CloudFormation templates into the one merge template `chalice package` takes.

    python infra/combine_templates.py infra/data.json infra/resources.json > build/merge-template.json

`chalice package --merge-template` accepts one file. The queues and tables live in infra/data.json so an
emulator can deploy them alone; everything else (and the patches to Chalice's resources) lives in
infra/resources.json. Sections are unioned; a logical id defined twice must be defined identically,
so the two files can share the `Stage` parameter and the `IsProd`-style conditions but never disagree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SECTIONS = ("Parameters", "Mappings", "Conditions", "Resources", "Outputs")


class TemplateConflict(ValueError):
    """Two templates define the same logical id differently."""


def combine(templates: list[dict]) -> dict:
    combined: dict = {"AWSTemplateFormatVersion": "2010-09-09"}
    descriptions = [t["Description"] for t in templates if t.get("Description")]
    if descriptions:
        combined["Description"] = descriptions[-1]
    for template in templates:
        unknown = set(template) - set(SECTIONS) - {"AWSTemplateFormatVersion", "Description"}
        if unknown:
            raise TemplateConflict(f"unsupported top-level keys: {sorted(unknown)}")
        for section in SECTIONS:
            target = combined.setdefault(section, {})
            for logical_id, body in template.get(section, {}).items():
                if logical_id in target and target[logical_id] != body:
                    raise TemplateConflict(f"{section}.{logical_id} is defined differently in two templates")
                target[logical_id] = body
    return {key: value for key, value in combined.items() if value != {}}


def combine_files(paths: list[str | Path]) -> dict:
    return combine([json.loads(Path(path).read_text()) for path in paths])


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        json.dump(combine_files(argv[1:]), sys.stdout, indent=2)
    except TemplateConflict as exc:
        print(f"combine_templates: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
