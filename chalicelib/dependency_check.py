"""GET /health: can the gateway reach Redis, DynamoDB and SQS right now?"""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.errors import GatewayError


def check_dependencies(checks: dict[str, Callable[[], object]]) -> tuple[bool, dict[str, str]]:
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except GatewayError as exc:
            results[name] = exc.message
        except Exception as exc:  # a health check reports every failure, it never raises
            results[name] = f"unavailable: {type(exc).__name__}"
    return all(value == "ok" for value in results.values()), results
