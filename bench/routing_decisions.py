"""Routing decisions per second from one client on the local Redis, beside the `limits` library.

    python -m bench.routing_decisions [--seconds 3] [--json PATH] [--redis-url URL]

Runs, each for --seconds on the same Redis:
  router, slots never run out  book_send over 3 providers with limits far above the offered load
  router, 50/s limits          the same at 50 sends/s per provider: bookings up to the horizon, then rate_limited
  limits, moving window        MovingWindowRateLimiter.hit() per decision, one provider per call, round-robin

The router's decision covers health, exclusions, weighted round-robin and a paced booking across every
provider; a `limits` hit checks one provider's window only. Both are one round trip.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import redis
from limits import RateLimitItemPerSecond
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from chalicelib.router import Router
from chalicelib.settings import get_settings
from chalicelib.vendors.http_json import HttpJsonConfig

NAMES = ("alpha", "beta", "gamma")
DEFAULT_JSON = Path(__file__).parent / "results" / "routing_decisions.json"


def _providers(rate_limit: int) -> list[HttpJsonConfig]:
    return [HttpJsonConfig(name=n, url=f"http://127.0.0.1/{n}", rate_limit=rate_limit) for n in NAMES]


def _script_time(client: redis.Redis) -> tuple[int, int]:
    """(calls, µs) of every script run so far, from INFO commandstats: the server's share of a decision."""
    stats = client.info("commandstats")
    scripts = [stats.get(name, {}) for name in ("cmdstat_evalsha", "cmdstat_eval")]
    return sum(s.get("calls", 0) for s in scripts), sum(s.get("usec", 0) for s in scripts)


def _run(client: redis.Redis, decide: Callable[[], str], seconds: float) -> dict:
    outcomes: Counter[str] = Counter()
    calls_before, usec_before = _script_time(client)
    started = time.perf_counter()
    stop_at = started + seconds
    while time.perf_counter() < stop_at:
        outcomes[decide()] += 1
    elapsed = time.perf_counter() - started
    calls_after, usec_after = _script_time(client)
    decisions = sum(outcomes.values())
    calls = calls_after - calls_before
    return {
        "decisions": decisions,
        "seconds": round(elapsed, 3),
        "decisions_per_s": round(decisions / elapsed),
        # Where a decision's time goes: the script on the server, the rest in the client and on the wire.
        "server_us_per_decision": round((usec_after - usec_before) / calls, 1) if calls else None,
        "client_us_per_decision": round(elapsed * 1e6 / decisions - (usec_after - usec_before) / max(calls, 1), 1)
        if decisions else None,
        "outcomes": dict(outcomes),
    }


def _delete_prefix(client: redis.Redis, pattern: str) -> None:
    keys = list(client.scan_iter(match=pattern))
    if keys:
        client.delete(*keys)


def bench_router(client: redis.Redis, rate_limit: int, seconds: float) -> dict:
    prefix = f"bench-{uuid.uuid4().hex}"
    policy = get_settings({"STAGE": "local"}).routing
    router = Router(client, _providers(rate_limit), key_prefix=prefix, policy=policy)
    try:
        return _run(client, lambda: router.book().reason, seconds)
    finally:
        _delete_prefix(client, f"{{{prefix}}}:*")


def bench_limits(redis_url: str, client: redis.Redis, rate_limit: int, seconds: float) -> dict:
    prefix = f"bench-limits-{uuid.uuid4().hex}"
    limiter = MovingWindowRateLimiter(RedisStorage(redis_url, key_prefix=prefix))
    item = RateLimitItemPerSecond(rate_limit)
    providers = itertools.cycle(NAMES)
    try:
        return _run(client, lambda: "hit" if limiter.hit(item, next(providers)) else "refused", seconds)
    finally:
        _delete_prefix(client, f"{prefix}*")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    options = parser.parse_args()

    client = redis.Redis.from_url(options.redis_url)
    runs = {
        "router, slots never run out": bench_router(client, 100_000, options.seconds),
        "router, 50/s limits": bench_router(client, 50, options.seconds),
        "limits, moving window (1 provider/hit)": bench_limits(options.redis_url, client, 100_000, options.seconds),
    }
    print(f"{'run':<42}{'decisions/s':>12}  outcomes")
    for name, run in runs.items():
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(run["outcomes"].items()))
        print(f"{name:<42}{run['decisions_per_s']:>12}  {outcomes}")

    options.json.parent.mkdir(parents=True, exist_ok=True)
    report = {"redis_url": options.redis_url, "seconds_per_run": options.seconds, "runs": runs}
    options.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {options.json}")


if __name__ == "__main__":
    main()
