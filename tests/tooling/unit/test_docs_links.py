"""Every link between the Markdown files resolves on GitHub: the file exists, and an anchor matches a
heading as GitHub renders it (custom `{#id}` anchors are not Markdown GitHub understands)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
DOCUMENTS = [ROOT / "README.md", ROOT / "localstack" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def github_anchor(heading: str) -> str:
    """GitHub's slug: lower case, punctuation dropped (hyphens and underscores kept), spaces to hyphens."""
    text = re.sub(r"[`*]", "", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(document: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", document.read_text(), flags=re.S)
    return {github_anchor(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)}


def test_github_anchor_matches_githubs_slugs():
    assert github_anchor("Deploy: `make infra` and `chalice deploy`") == "deploy-make-infra-and-chalice-deploy"
    assert github_anchor("503 `configuration_error` on every route") == "503-configuration_error-on-every-route"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_link_to_a_file_and_heading_resolves(document):
    assert "{#" not in document.read_text(), "custom heading ids do not work on GitHub"
    broken = []
    for target in LINK.findall(re.sub(r"```.*?```", "", document.read_text(), flags=re.S)):
        if re.match(r"[a-z]+://", target) or target.startswith("mailto:"):
            continue
        path, _, anchor = target.partition("#")
        linked = (document.parent / path).resolve() if path else document
        missing_heading = bool(anchor) and linked.suffix == ".md" and linked.exists() and anchor not in anchors(linked)
        if not linked.exists() or missing_heading:
            broken.append(target)
    assert not broken, broken


# Ours, not a vendor SDK's own test file (written after the SDK's name: "twilio-python `tests/...`").
TEST_PATH = re.compile(r"(?<![\w/])(?<!-python `)tests/[\w/]+\.py")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_test_file_a_document_names_exists(document):
    """A test moved or renamed leaves no doc pointing at where it was."""
    named = set(TEST_PATH.findall(document.read_text()))
    assert not sorted(path for path in named if not (ROOT / path).exists())
