"""The route table is the app's: every row is a route app.py registers, and app.py registers no other."""

from __future__ import annotations

import pytest

from chalicelib.api.routes import ROUTES

pytestmark = pytest.mark.unit


def test_the_app_registers_exactly_the_routes_of_the_route_table():
    import app as gateway

    registered = {(path, method, entry.view_name) for path, entries in gateway.app.routes.items()
                  for method, entry in entries.items()}
    assert registered == {(route.path, route.method, route.handler) for route in ROUTES}


def test_every_route_that_needs_an_api_key_declares_the_answers_of_a_missing_key_and_a_missing_role():
    for route in ROUTES:
        if route.role is not None:
            assert {401, 403} <= route.answers.keys(), route
