"""The per-client limiter under load: one client limited to LIMIT/s, offered RATE/s open-loop.

Admissions are read from Redis itself while the load runs (the client's admission log holds every
admission for at least one window, so polling it every 250 ms misses none), with the Redis server's own
timestamps: the figure is the limiter's, not the network's. Prints the figures and writes JSON.

    python -m bench.client_limit --limit 20 --rate 100 --seconds 10
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import secrets
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import redis

from bench.loadgen import OpenLoopLoad
from chalicelib.clients import key_hash
from localdev.provider_simulator import max_in_any_window

RESULTS = Path(__file__).resolve().parent / "results"
CLIENT = "limited"


@dataclass
class ClientLimitFigures:
    limit: int
    offered_rps: float
    seconds: float
    answers: dict[str, int]
    admitted: int
    max_admitted_in_any_1s: int
    admitted_per_s: float
    refusals_with_retry_after: int


def registry(key: str, limit: int, **other_keys: str) -> str:
    """A registry with the limited client and, by name, other clients with the default limits."""
    clients = {CLIENT: {"key_hashes": [key_hash(key)], "rate_limit": limit, "daily_quota": 10**8}}
    clients.update({name: {"key_hashes": [key_hash(other)]} for name, other in other_keys.items()})
    return json.dumps({"cursor_key": secrets.token_urlsafe(32), "clients": clients})


def _poll_admissions(redis_url: str, key: str, ready, stop, out) -> None:
    client = redis.Redis.from_url(redis_url)
    seen: dict[bytes, float] = {}
    client.ping()
    ready.set()
    while True:
        stopping = stop.wait(0.2)
        for member, score in client.zrange(key, 0, -1, withscores=True):
            seen[member] = score
        if stopping:
            out.put(seen)
            return


class AdmissionLog:
    """Polls the client's admission log in Redis from a process of its own (the load's threads cannot starve
    it: every admission stays in the log for at least one window, 1 s, and the log is read every 0.2 s).
    Every member is "<epoch ms>:<token>", its score the admission time on the Redis server's clock."""

    def __init__(self, redis_url: str, prefix: str):
        context = multiprocessing.get_context("spawn")
        self._ready, self._stop = context.Event(), context.Event()
        self._out = context.Queue()
        key = f"{{{prefix}:c:{CLIENT}}}:rate"
        self._process = context.Process(target=_poll_admissions,
                                        args=(redis_url, key, self._ready, self._stop, self._out), daemon=True)
        self.seen: dict[bytes, float] = {}

    def __enter__(self) -> AdmissionLog:
        self._process.start()
        if not self._ready.wait(30):
            raise RuntimeError("the admission log poller did not start")
        return self

    def __exit__(self, *_):
        self._stop.set()
        self.seen = self._out.get(timeout=30)
        self._process.join(10)


def measure(api_url: str, key: str, redis_url: str, prefix: str, *, limit: int, rate: float,
            seconds: float) -> ClientLimitFigures:
    with AdmissionLog(redis_url, prefix) as log:
        load = OpenLoopLoad(api_url, key, rate=rate, seconds=seconds, mix={"plain": 1.0})
        result = load.run()
    answers = Counter(str(sample.status) for sample in result.samples)
    admitted_ms = sorted(log.seen.values())
    span_s = (admitted_ms[-1] - admitted_ms[0]) / 1000 if len(admitted_ms) > 1 else 1.0
    return ClientLimitFigures(
        limit=limit, offered_rps=rate, seconds=seconds, answers=dict(sorted(answers.items())),
        admitted=len(admitted_ms), max_admitted_in_any_1s=max_in_any_window(admitted_ms, 1000),
        admitted_per_s=round(len(admitted_ms) / max(span_s, 1.0), 2),
        refusals_with_retry_after=answers.get("429", 0))


def main(argv: list[str] | None = None) -> int:
    from tests.integration.conftest import start_stack

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args(argv)
    key = secrets.token_urlsafe(32)
    prefix = "bench" + secrets.token_hex(4)
    stack = start_stack(Path(tempfile.mkdtemp(prefix="client-limit-")), CLIENTS=registry(key, args.limit),
                        REDIS_KEY_PREFIX=prefix)
    try:
        figures = measure(stack.state["api_url"], key, stack.state["redis_url"], prefix, limit=args.limit,
                          rate=args.rate, seconds=args.seconds)
    finally:
        stack.stop()
    print(f"per-client limit {figures.limit}/s, {figures.offered_rps:g} RPS offered for {figures.seconds:g} s: "
          f"max {figures.max_admitted_in_any_1s} admitted in any 1 s (Redis clock), {figures.admitted} admitted "
          f"({figures.admitted_per_s}/s), answers {figures.answers}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-client-limit.json"
    out.write_text(json.dumps(asdict(figures), indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
