"""The routing path alone, at the seed's full rate: choice -> HTTP send -> outcome, with no stores.

Concurrent dispatch workers take messages from an in-memory delay queue (SQS's role, without its
cost), ask a routing strategy for a provider, POST to real HTTP provider simulators and report the
outcome back to the strategy. The same Redis, the same simulators, the same offered schedule for
every strategy, so the only difference is the routing decision:

  router          the gateway's Router: one Lua step (health, exclusions, smooth WRR) books the earliest paced
                  send time; the worker waits until then and sends
  limits          round-robin, each provider behind the `limits` library's MovingWindowRateLimiter
  fixed_window    round-robin, INCR + EXPIRE on a per-second key per provider (the original work list)
  round_robin     round-robin + the `limits` moving window, no health: a failing provider keeps its share
  weighted_random weighted-random among providers with a free `limits` slot, with error-rate demotion
                  (GOV.UK Notify's way: a provider failing too often loses 10 points of its share)

    python -m bench.routing_path [--seconds 8] [--rate 200] [--limit 50] [--redis-url URL]

What happens to a message: no provider free -> back in the delay queue for the time the strategy
names (not a retry); booked for later (router) -> the worker waits until then; 429 -> again at once,
avoiding that provider; 5xx/timeout -> retry after 2^(n-1) s excluding the provider (at most 5);
2xx -> delivered.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import math
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis
from limits import RateLimitItemPerSecond
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from bench import stats
from bench.measure import cpu_ms, machine
from chalicelib.router import Router
from chalicelib.settings import get_settings
from chalicelib.vendors.http_json import HttpJsonConfig
from localdev.stack import free_port, http_ok, wait_until

NAMES = ("alpha", "beta", "gamma")
STRATEGIES = ("router", "limits", "fixed_window", "round_robin", "weighted_random")
MAX_RETRIES = 5


# ------------------------------------------------------------------ strategies


class RouterStrategy:
    """The gateway's own decision (chalicelib.router.Router) with the gateway's defaults, health shortened
    like the stack's bench env. Like the dispatcher, the worker waits until the booked time, then sends."""

    def __init__(self, client: redis.Redis, limit: int, prefix: str):
        configs = [HttpJsonConfig(name=n, url=f"http://127.0.0.1/{n}", rate_limit=limit) for n in NAMES]
        policy = get_settings({"STAGE": "local"}).routing.model_copy(
            update={"health_window_s": 30, "min_samples": 5, "unhealthy_for_s": 10})
        self._router = Router(client, configs, key_prefix=prefix, policy=policy)
        self._held = threading.local()

    def choose(self, excluded: Sequence[str], last_failed: str | None) -> tuple[str | None, float]:
        """(provider, wait before sending), or (None, wait before asking again)."""
        booking = self._router.book(excluded=tuple(excluded), last_failed=last_failed)
        self._held.booking = booking
        return booking.provider, booking.wait_ms / 1000

    def late(self, late_s: float) -> float | None:
        """As the dispatcher does: a send more than half the guard late gives its booking back and books
        again for the same provider. None = send now; else the wait before sending (or asking again)."""
        booking = self._held.booking
        if late_s * 1000 <= max(1.0, booking.guard_ms / 2):
            return None
        self._router.give_back(booking)
        self._held.booking = self._router.book(only=booking.provider)
        return self._held.booking.wait_ms / 1000 if self._held.booking.provider else None

    def outcome(self, provider: str, success: bool | None, throttled: bool = False,
                arrival_offset_ms: float | None = None) -> None:
        self._router.record_outcome(provider, success, throttled=throttled, arrival_offset_ms=arrival_offset_ms)

    def pace(self) -> dict:
        """Each provider's jitter guard and effective rate at the end of the run."""
        return {s.name: {"jitter_guard_ms": s.jitter_guard_ms, "effective_rate_limit": s.effective_rate_limit}
                for s in self._router.provider_states()}


class _RoundRobinOverLimiter:
    """Round-robin from a shared pointer; the first provider (not excluded) whose limiter admits it wins."""

    def __init__(self) -> None:
        self._next = itertools.count()

    def _order(self, excluded: Sequence[str]) -> list[str]:
        start = next(self._next) % len(NAMES)
        ordered = [NAMES[(start + i) % len(NAMES)] for i in range(len(NAMES))]
        return [n for n in ordered if n not in excluded] or [ordered[0]]

    def admit(self, name: str) -> bool:
        raise NotImplementedError

    def wait_s(self) -> float:
        return 0.01

    def choose(self, excluded: Sequence[str], last_failed: str | None) -> tuple[str | None, float]:
        for name in self._order(excluded):
            if self.admit(name):
                return name, 0.0
        return None, self.wait_s()

    def outcome(self, provider: str, success: bool | None, throttled: bool = False,
                arrival_offset_ms: float | None = None) -> None:
        return None  # no health

    def late(self, late_s: float) -> float | None:
        return None  # a limiter without bookings sends whenever it gets round to it


class LimitsStrategy(_RoundRobinOverLimiter):
    def __init__(self, redis_url: str, limit: int, prefix: str):
        super().__init__()
        self._limiter = MovingWindowRateLimiter(RedisStorage(redis_url, key_prefix=prefix))
        self._item = RateLimitItemPerSecond(limit)

    def admit(self, name: str) -> bool:
        return self._limiter.hit(self._item, name)


class FixedWindowStrategy(_RoundRobinOverLimiter):
    """INCR {provider}:{epoch second} + EXPIRE 2 s in one MULTI: admitted while the count <= limit."""

    def __init__(self, client: redis.Redis, limit: int, prefix: str):
        super().__init__()
        self._redis = client
        self._limit = limit
        self._prefix = prefix

    def admit(self, name: str) -> bool:
        key = f"{self._prefix}:{name}:{math.floor(time.time())}"
        pipe = self._redis.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, 2)
        count, _ = pipe.execute()
        return count <= self._limit

    def wait_s(self) -> float:
        return max(0.001, math.ceil(time.time()) - time.time())


class RoundRobinStrategy(LimitsStrategy):
    """Plain round-robin without health: exactly `limits`, named apart for the failing scenario."""


class WeightedRandomStrategy(LimitsStrategy):
    """Weighted-random with error-rate demotion, as GOV.UK Notify routes between its SMS providers.

    Shares start equal (percent points summing to 100). A provider whose error rate over its last 20
    outcomes exceeds 30% loses 10 points to the others, at most once per second (Notify: once per
    10 minutes; shortened to show within a run). Outcomes are kept in this process.
    """

    def __init__(self, redis_url: str, limit: int, prefix: str, seed: int = 11):
        super().__init__(redis_url, limit, prefix)
        self._weights = {n: 100 / len(NAMES) for n in NAMES}
        self._recent = {n: deque(maxlen=20) for n in NAMES}
        self._demoted_at = {n: 0.0 for n in NAMES}
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def choose(self, excluded: Sequence[str], last_failed: str | None) -> tuple[str | None, float]:
        with self._lock:
            candidates = [n for n in NAMES if n not in excluded and self._weights[n] > 0] or [
                n for n in NAMES if self._weights[n] > 0]
            weights = [self._weights[n] for n in candidates]
            order = []
            while candidates:  # a weighted shuffle: try the likelier providers first
                pick = self._random.choices(range(len(candidates)), weights=weights)[0]
                order.append(candidates.pop(pick))
                weights.pop(pick)
        for name in order:
            if self.admit(name):
                return name, 0.0
        return None, 0.01

    def outcome(self, provider: str, success: bool | None, throttled: bool = False,
                arrival_offset_ms: float | None = None) -> None:
        if success is None:
            return
        with self._lock:
            recent = self._recent[provider]
            recent.append(success)
            now = time.monotonic()
            failing = len(recent) >= 10 and recent.count(False) / len(recent) > 0.3
            if failing and now - self._demoted_at[provider] >= 1.0 and self._weights[provider] > 0:
                cut = min(10.0, self._weights[provider])
                self._weights[provider] -= cut
                others = [n for n in NAMES if n != provider]
                for name in others:
                    self._weights[name] += cut / len(others)
                self._demoted_at[provider] = now

    @property
    def weights(self) -> dict[str, float]:
        return {n: round(w, 1) for n, w in self._weights.items()}


def build_strategy(name: str, client: redis.Redis, redis_url: str, limit: int, prefix: str):
    if name == "router":
        return RouterStrategy(client, limit, prefix)
    if name == "limits":
        return LimitsStrategy(redis_url, limit, prefix)
    if name == "fixed_window":
        return FixedWindowStrategy(client, limit, prefix)
    if name == "round_robin":
        return RoundRobinStrategy(redis_url, limit, prefix)
    if name == "weighted_random":
        return WeightedRandomStrategy(redis_url, limit, prefix)
    raise ValueError(f"unknown strategy {name!r}; one of {STRATEGIES}")


# ------------------------------------------------------------------ the harness


@dataclass(order=True)
class _Queued:
    ready_at: float
    seq: int
    id: str = field(compare=False)
    attempt: int = field(default=1, compare=False)
    retries: int = field(default=0, compare=False)
    excluded: tuple[str, ...] = field(default=(), compare=False)
    avoid: tuple[str, ...] = field(default=(), compare=False)
    last_failed: str | None = field(default=None, compare=False)


class DelayQueue:
    def __init__(self) -> None:
        self._heap: list[_Queued] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()

    def put(self, ready_at: float, **message) -> None:
        with self._cond:
            heapq.heappush(self._heap, _Queued(ready_at, next(self._seq), **message))
            self._cond.notify()

    def get(self, stop: threading.Event, max_wait_s: float = 0.2) -> _Queued | None:
        with self._cond:
            deadline = time.monotonic() + max_wait_s
            while not stop.is_set():
                now = time.time()
                if self._heap and self._heap[0].ready_at <= now:
                    return heapq.heappop(self._heap)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                wait = min(remaining, self._heap[0].ready_at - now) if self._heap else remaining
                self._cond.wait(max(0.0005, wait))
            return None

    def __len__(self) -> int:
        with self._cond:
            return len(self._heap)


def steady(rate: float, seconds: float) -> list[float]:
    return [i / rate for i in range(int(rate * seconds))]


def bursts(size: int, every_s: float, count: int, offset_s: float = 0.9) -> list[float]:
    """`size` messages at once, every `every_s`, each burst 0.1 s before a whole second (offset 0.9)."""
    return [offset_s + k * every_s for k in range(count) for _ in range(size)]


class Simulators:
    """Three provider simulators in one child process (their CPU apart from the harness's)."""

    def __init__(self, limit: int, latency_ms: float = 20):
        self.ports = [free_port() for _ in NAMES]
        many = [{"name": n, "port": p, "rate_limit": limit, "latency_ms": latency_ms, "jitter_ms": latency_ms / 2}
                for n, p in zip(NAMES, self.ports, strict=True)]
        self.process = subprocess.Popen([sys.executable, "-m", "localdev.provider_simulator", "--many",
                                         json.dumps(many)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        cwd=Path(__file__).resolve().parent.parent)
        for port in self.ports:
            wait_until(lambda port=port: http_ok(f"http://127.0.0.1:{port}/_health"), 15, "simulator")
        self.http = httpx.Client(timeout=5)

    def base(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[NAMES.index(name)]}"

    def reset(self, limit: int) -> None:
        for name in NAMES:
            self.http.post(f"{self.base(name)}/_reset")
            self.http.post(f"{self.base(name)}/_config", json={"mode": "ok", "rate_limit": limit})

    def configure(self, name: str, **config) -> None:
        self.http.post(f"{self.base(name)}/_config", json=config)

    def arrivals(self, name: str) -> list[dict]:
        return self.http.get(f"{self.base(name)}/_arrivals").json()

    def sent(self, name: str) -> list[dict]:
        return self.http.get(f"{self.base(name)}/_sent").json()

    def stop(self) -> None:
        self.http.close()
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def run_path(strategy_name: str, sims: Simulators, client: redis.Redis, redis_url: str, *, offsets: list[float],
             limit: int, failing: tuple[str, ...] = (), workers: int = 32, drain_s: float = 8.0,
             align: bool = False) -> dict:
    """Offer messages at t0 + offsets, route them with one strategy, and measure at the simulators."""
    sims.reset(limit)
    for name in failing:
        sims.configure(name, mode="fail")
    prefix = f"rp-{strategy_name}-{uuid.uuid4().hex[:8]}"
    strategy = build_strategy(strategy_name, client, redis_url, limit, prefix)
    queue = DelayQueue()
    stop = threading.Event()
    http = httpx.Client(limits=httpx.Limits(max_connections=workers * 2, max_keepalive_connections=workers * 2),
                        timeout=httpx.Timeout(1.0, connect=1.0))
    counts: Counter[str] = Counter()
    counts_lock = threading.Lock()
    offered_at: dict[str, float] = {}
    delivered_at: dict[str, float] = {}
    decision_s: list[float] = []

    def count(what: str) -> None:
        with counts_lock:
            counts[what] += 1

    def work() -> None:
        while not stop.is_set():
            message = queue.get(stop)
            if message is None:
                continue
            started = time.perf_counter()
            provider, wait_s = strategy.choose(message.excluded + message.avoid, message.last_failed)
            decided = time.perf_counter()
            decision_s.append(decided - started)
            if provider is None:
                count("waited")
                queue.put(time.time() + max(0.001, wait_s), id=message.id, attempt=message.attempt,
                          retries=message.retries, excluded=message.excluded, last_failed=message.last_failed)
                continue
            send_at = decided + wait_s
            time.sleep(max(0.0, send_at - time.perf_counter()))
            if (again_s := strategy.late(time.perf_counter() - send_at)) is not None:
                send_at = time.perf_counter() + again_s
                time.sleep(again_s)
            try:
                answer = http.post(f"{sims.base(provider)}/send",
                                   json={"to": "+14155550100", "text": "routing path", "reference": message.id},
                                   headers={"Idempotency-Key": f"{message.id}-{message.attempt}"})
                status = answer.status_code
            except httpx.HTTPError:
                status = 0
            # As the dispatcher measures it: how late the send left, plus its round trip.
            offset_ms = (time.perf_counter() - send_at) * 1000 if status else None
            if 200 <= status < 300:
                strategy.outcome(provider, True, arrival_offset_ms=offset_ms)
                delivered_at.setdefault(message.id, time.time())
                count("delivered")
            elif status == 429:
                strategy.outcome(provider, None, throttled=True, arrival_offset_ms=offset_ms)
                count("throttled")
                queue.put(time.time(), id=message.id, attempt=message.attempt + 1, retries=message.retries,
                          excluded=message.excluded, avoid=(provider,), last_failed=message.last_failed)
            else:
                strategy.outcome(provider, False, arrival_offset_ms=offset_ms)
                count("failed_send")
                if message.retries + 1 > MAX_RETRIES:
                    count("gave_up")
                    continue
                excluded = (*[n for n in message.excluded if n != provider], provider)
                queue.put(time.time() + 2 ** message.retries, id=message.id, attempt=message.attempt + 1,
                          retries=message.retries + 1, excluded=excluded, last_failed=provider)

    phase_started = time.monotonic()
    threads = [threading.Thread(target=work, daemon=True, name=f"rp-{i}") for i in range(workers)]
    cpu_before = cpu_ms(sims.process.pid), cpu_ms(_self_pid())
    load_before = machine()
    for thread in threads:
        thread.start()
    t0 = time.time() + 0.05
    if align:
        t0 = math.ceil(t0)
    for index, offset in enumerate(offsets):
        due = t0 + offset
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        rid = f"{index:06d}{uuid.uuid4().hex[:10]}"
        offered_at[rid] = time.time()
        queue.put(time.time(), id=rid)
    offered_end = time.time()
    drain_deadline = time.monotonic() + drain_s
    while time.monotonic() < drain_deadline and len(delivered_at) + counts["gave_up"] < len(offered_at):
        time.sleep(0.1)
    stop.set()
    join_deadline = time.monotonic() + 3
    for thread in threads:
        thread.join(max(0.01, join_deadline - time.monotonic()))
    http.close()
    cpu_after = cpu_ms(sims.process.pid), cpu_ms(_self_pid())

    providers = {}
    for name in NAMES:
        arrivals = [a for a in sims.arrivals(name) if a["t"] >= t0 - 0.1]
        times = [a["t"] for a in arrivals]
        providers[name] = {
            "arrivals": len(times),
            "by_status": dict(sorted(Counter(str(a["status"]) for a in arrivals).items())),
            "max_in_any_1s": stats.max_in_any_window(times) if times else 0,
        }
    sent_refs = [m.get("reference") for name in NAMES for m in sims.sent(name)]
    capacity = limit * (len(NAMES) - len(failing))
    saturated = stats.backlog_saturated_rate(sorted(offered_at.values()), sorted(delivered_at.values()), capacity,
                                             t0, offered_end)
    steady_from = t0 + 1.0  # the first second fills the pipeline
    steady_count = sum(1 for t in delivered_at.values() if steady_from <= t < offered_end)
    steady_rate = steady_count / (offered_end - steady_from) if offered_end > steady_from + 0.5 else None
    wasted = sum(providers[n]["arrivals"] for n in failing) + sum(
        providers[n]["by_status"].get("429", 0) for n in NAMES)
    result = {
        "strategy": strategy_name,
        "run_seconds": round(time.monotonic() - phase_started, 1),
        "offered": len(offered_at),
        "offered_seconds": round(offered_end - t0, 2),
        "delivered": len(delivered_at),
        "undelivered": len(offered_at) - len(delivered_at),
        "duplicates": len(stats.duplicates(sent_refs)),
        "capacity_per_s": capacity,
        "delivered_per_s": round(steady_rate, 2) if steady_rate is not None else None,
        "delivered_ratio": round(steady_rate / capacity, 4) if steady_rate is not None else None,
        "backlog_saturated": saturated,
        "providers": providers,
        "max_in_any_1s": max(p["max_in_any_1s"] for p in providers.values()),
        "limit": limit,
        "over_limit_429": sum(p["by_status"].get("429", 0) for p in providers.values()),
        "failing": list(failing),
        "wasted_sends": wasted,
        "sends_to_failing": sum(providers[n]["arrivals"] for n in failing),
        "events": dict(counts),
        "decision_ms": stats.summarize([s * 1000 for s in decision_s], digits=3),
        "cpu_ms": {"harness": _diff(cpu_before[1], cpu_after[1]), "simulators": _diff(cpu_before[0], cpu_after[0])},
        "machine": {"before": load_before, "after": machine()},
        "trailing_1s": {n: [(round(t - t0, 3), c) for t, c in stats.trailing_window_counts(
            a["t"] for a in sims.arrivals(n) if a["t"] >= t0 - 0.1)] for n in NAMES},
    }
    if isinstance(strategy, WeightedRandomStrategy):
        result["final_weights"] = strategy.weights
    if isinstance(strategy, RouterStrategy):
        result["final_pace"] = strategy.pace()
    _delete_prefix(client, prefix)
    return result


def _diff(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else round(after - before, 1)


def _self_pid() -> int:
    import os

    return os.getpid()


def _delete_prefix(client: redis.Redis, prefix: str) -> None:
    for pattern in (f"{prefix}*", f"{{{prefix}}}*", f"LIMITS:{prefix}*", f"*{prefix}*"):
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)


def run_all(redis_url: str, *, seconds: float = 8.0, rate: float = 200, limit: int = 50,
            strategies: Sequence[str] = STRATEGIES, with_bursts: bool = True, with_failing: bool = True,
            progress=None) -> dict:
    """Every strategy on: steady load (healthy), steady load with beta failing, and boundary bursts."""
    client = redis.Redis.from_url(redis_url)
    sims = Simulators(limit)
    plan: list[tuple[str, str, dict]] = []
    # round_robin is `limits` with a name for the failing case: healthy, the two are the same run.
    for name in strategies:
        if name != "round_robin" or "limits" not in strategies:
            plan.append(("healthy", name, {"offsets": steady(rate, seconds)}))
    if with_failing:
        for name in strategies:
            if name != "limits" or "round_robin" not in strategies:
                plan.append(("beta_failing", name, {"offsets": steady(rate, seconds), "failing": ("beta",)}))
    if with_bursts:
        for name in ("router", "fixed_window"):
            if name in strategies:
                plan.append(("boundary_bursts", name, {"offsets": bursts(6 * limit, 3.0, 3), "align": True}))
    results: dict[str, dict[str, dict]] = {}
    try:
        for index, (scenario, name, kwargs) in enumerate(plan):
            if progress is not None:
                progress(f"routing path: {scenario} / {name}", index, len(plan))
            results.setdefault(scenario, {})[name] = run_path(name, sims, client, redis_url, limit=limit,
                                                              drain_s=min(8.0, max(2.0, seconds / 2)), **kwargs)
    finally:
        sims.stop()
    return {"rate": rate, "limit": limit, "seconds": seconds, "redis_url": redis_url, "scenarios": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    out = run_all(args.redis_url, seconds=args.seconds, rate=args.rate, limit=args.limit,
                  strategies=args.strategies.split(","),
                  progress=lambda what, i, n: print(f"[{i + 1}/{n}] {what}", flush=True))
    for scenario, by_strategy in out["scenarios"].items():
        for name, r in by_strategy.items():
            r.pop("trailing_1s", None)
            print(f"{scenario:<16}{name:<16} max/1s {r['max_in_any_1s']:>3} (limit {r['limit']})  "
                  f"delivered {r['delivered_per_s']}/s of {r['capacity_per_s']}  wasted {r['wasted_sends']}  "
                  f"undelivered {r['undelivered']}  {r.get('final_pace', '')}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
