"""Open-loop load generator for `POST /api/sms`: the offered rate does not bend to the answers.

Request i is due at t0 + i / rate, whatever happened to request i - 1: a scheduler thread releases
each one at its due time to a pool of worker threads, each holding one keep-alive connection. When
the API slows down, requests pile up in flight (up to `workers`) instead of being offered later, so
a slow gateway shows as latency, not as a politely lower load (no coordinated omission: latency is
also reported from the due time).

    python -m bench.loadgen --url http://127.0.0.1:8000 --api-key KEY --rate 40 --seconds 10

Per request it records: due time, send time, answer time, status code, request id.
"""

from __future__ import annotations

import argparse
import http.client
import json
import queue
import random
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

# What one request looks like, by kind: weights of the default mix.
DEFAULT_MIX = {"plain": 0.9, "idempotent": 0.1}
KINDS = ("plain", "idempotent", "unicode", "invalid")


@dataclass
class Sample:
    index: int
    kind: str
    due: float  # epoch s: when the open-loop schedule wanted it sent
    sent: float = 0.0  # epoch s: when a worker started writing it
    done: float = 0.0  # epoch s: when the answer was read (0: never)
    status: int = 0  # HTTP status, 0 for a connection error or timeout
    request_id: str | None = None
    error: str | None = None

    @property
    def latency_ms(self) -> float:
        return (self.done - self.sent) * 1000

    @property
    def latency_from_due_ms(self) -> float:
        return (self.done - self.due) * 1000


@dataclass
class LoadResult:
    rate: float
    seconds: float
    started: float
    samples: list[Sample] = field(default_factory=list)
    behind_max_ms: float = 0.0  # the worst delay between a request's due time and its send

    def to_json(self) -> dict:
        return {"rate": self.rate, "seconds": self.seconds, "started": self.started,
                "behind_max_ms": round(self.behind_max_ms, 1), "samples": [asdict(s) for s in self.samples]}


def request_for(kind: str, index: int, run_tag: str) -> tuple[dict, dict[str, str]]:
    """(JSON body, extra headers) of one request of the given kind."""
    phone = f"+1415555{index % 10000:04d}"
    if kind == "plain":
        return {"phone": phone, "text": f"bench message {index}"}, {}
    if kind == "idempotent":
        return {"phone": phone, "text": f"bench message {index}"}, {"Idempotency-Key": f"{run_tag}-{index}"}
    if kind == "unicode":
        return {"phone": phone, "text": f"bench {index} ✓ ünïcode 🚀"}, {}
    if kind == "invalid":
        return {"phone": "not-a-number", "text": "x"}, {}
    raise ValueError(f"unknown kind {kind!r}; one of {KINDS}")


def pick_kinds(mix: dict[str, float], count: int, seed: int = 7) -> list[str]:
    for kind in mix:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; one of {KINDS}")
    chooser = random.Random(seed)
    kinds, weights = zip(*mix.items(), strict=True)
    return chooser.choices(kinds, weights=weights, k=count)


class OpenLoopLoad:
    def __init__(self, url: str, api_key: str, *, rate: float, seconds: float, mix: dict[str, float] | None = None,
                 workers: int | None = None, timeout_s: float = 10.0,
                 on_sample: Callable[[Sample], None] | None = None):
        if rate <= 0 or seconds <= 0:
            raise ValueError("rate and seconds must be positive")
        self._target = urllib.parse.urlsplit(url)
        self._api_key = api_key
        self.rate = rate
        self.seconds = seconds
        self.count = int(rate * seconds)
        self._kinds = pick_kinds(mix or DEFAULT_MIX, self.count)
        # Open loop needs a free worker for every request in flight: rate x the longest an answer may take.
        self._workers = workers or max(64, min(512, int(rate * timeout_s)))
        self._timeout_s = timeout_s
        self._on_sample = on_sample
        self._tag = uuid.uuid4().hex[:8]
        self._due: queue.Queue[Sample | None] = queue.Queue()
        self.samples: list[Sample] = []
        self._lock = threading.Lock()

    def run(self, stop: threading.Event | None = None) -> LoadResult:
        stop = stop or threading.Event()
        threads = [threading.Thread(target=self._work, name=f"load-{i}", daemon=True) for i in range(self._workers)]
        for thread in threads:
            thread.start()
        started = time.time() + 0.05
        result = LoadResult(self.rate, self.seconds, started)
        for index in range(self.count):
            due = started + index / self.rate
            delay = due - time.time()
            if delay > 0 and stop.wait(delay):
                break
            self._due.put(Sample(index=index, kind=self._kinds[index], due=due))
        for _ in threads:
            self._due.put(None)
        join_deadline = time.monotonic() + self._timeout_s + 1
        for thread in threads:
            thread.join(max(0.1, join_deadline - time.monotonic()))
        with self._lock:
            result.samples = sorted(self.samples, key=lambda s: s.index)
        result.behind_max_ms = max(((s.sent - s.due) * 1000 for s in result.samples if s.sent), default=0.0)
        return result

    def _connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self._target.hostname, self._target.port or 80, timeout=self._timeout_s)

    def _work(self) -> None:
        connection = self._connection()
        path = f"{self._target.path.rstrip('/')}/api/sms"
        while True:
            sample = self._due.get()
            if sample is None:
                break
            body, headers = request_for(sample.kind, sample.index, self._tag)
            payload = json.dumps(body).encode()
            headers = {"Content-Type": "application/json", "X-Api-Key": self._api_key, **headers}
            sample.sent = time.time()
            try:
                connection.request("POST", path, body=payload, headers=headers)
                response = connection.getresponse()
                answer = response.read()
                sample.done = time.time()
                sample.status = response.status
                if response.status == 202:
                    sample.request_id = json.loads(answer).get("id")
                if response.getheader("Connection", "").lower() == "close" or response.version == 10:
                    connection.close()
            except (OSError, http.client.HTTPException, ValueError) as exc:
                sample.done = time.time()
                sample.error = type(exc).__name__
                connection.close()
                connection = self._connection()
            with self._lock:
                self.samples.append(sample)
            if self._on_sample is not None:
                self._on_sample(sample)
        connection.close()


def main(argv: list[str] | None = None) -> int:
    from bench.stats import summarize

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--rate", type=float, default=40)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--mix", default=json.dumps(DEFAULT_MIX), help='JSON weights, e.g. {"plain": 1}')
    parser.add_argument("--workers", type=int, help="default: rate x timeout, 64 to 512")
    args = parser.parse_args(argv)
    load = OpenLoopLoad(args.url, args.api_key, rate=args.rate, seconds=args.seconds, mix=json.loads(args.mix),
                        workers=args.workers)
    result = load.run()
    statuses: dict[str, int] = {}
    for sample in result.samples:
        key = str(sample.status or sample.error)
        statuses[key] = statuses.get(key, 0) + 1
    accepted = [s.latency_ms for s in result.samples if s.status == 202]
    print(json.dumps({"offered": len(result.samples), "statuses": statuses, "latency_ms": summarize(accepted),
                      "behind_max_ms": round(result.behind_max_ms, 1)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
