"""Fixtures of the adapter contract tests: the gateway's provider client, with every request it sends kept."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from chalicelib.providers import deadline_client

PHONE = "+14155550100"
REQUEST_ID = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def wire() -> Iterator[tuple[httpx.Client, list[httpx.Request]]]:
    """(client, requests): the bounded, pooled client the gateway uses, and each request exactly as it left."""
    seen: list[httpx.Request] = []
    with deadline_client(event_hooks={"request": [seen.append]}) as client:
        yield client, seen
