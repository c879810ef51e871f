"""`make chaos`: the local stack under load, one fault at a time, and an audit of what became of every SMS.

    python -m localdev.chaos [--rate 15] [--duration 12] [--only kill_dispatcher,aws_refuses] [--out bench/results]

Faults (each against the same stack, simulators and routing state reset in between):
  kill_dispatcher   kill -9 one dispatcher process mid-batch (the stack starts a new one, as Lambda would)
  restart_redis     kill -9 the stack's own redis-server, start it again 3 s later (its data is gone)
  redis_read_only   the stack's redis-server turns into a read-only replica for 4 s (READONLY, as after a
                    failover), then is promoted back
  aws_refuses       the AWS emulator (DynamoDB + SQS) refuses connections for 10 s (localdev.fault_proxy)
  provider_hangs    alpha never answers: every send to it times out (SIM_TIMEOUT_S=1)
  provider_garbage  alpha answers 200 with an HTML body
  orphaned_keys     every request carries an Idempotency-Key, and a quarter of the keys were reserved by calls
                    that died before storing their request: the clients retry on 409 until a takeover
  status_write_lost the providers answer after 600 ms and, three times for 2 s, DynamoDB refuses UpdateItem on
                    the requests table: answers get recorded but the status write fails; each such attempt
                    is finished from its record once its lease passes, and none is sent again (defect B2)

After each fault the audit checks that every accepted request (202) ends `sent` or `failed`, that no
request reached the providers twice (the simulators' /_sent entries per reference, all providers
together), and records how long the API took to answer while a dependency was down. A table goes
to the terminal and the figures to bench/results/chaos-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from chalicelib.lifecycle import TERMINAL, Status
from localdev.stack import ROOT, free_port
from localdev.stack_settings import HTTP_JSON_TRIO

# ----------------------------------------------------------------------------- a Redis of our own


class OwnRedis:
    """A throwaway redis-server (no persistence) on a free port, so restarting it disturbs nobody else."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> OwnRedis:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        import redis

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping()
                return self
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(5)

    def restart(self, down_s: float) -> None:
        self.kill()
        time.sleep(down_s)
        self.start()

    def read_only(self, seconds: float) -> None:
        """A failover seen from the gateway: for `seconds` this server is a replica (of a primary that is gone)
        and refuses every write with READONLY; then it is promoted back."""
        import redis

        server = redis.Redis.from_url(self.url)
        server.replicaof("127.0.0.1", free_port())
        time.sleep(seconds)
        server.replicaof("NO", "ONE")


# ----------------------------------------------------------------------------- load and probes


@dataclass
class Answer:
    started: float  # time.monotonic() when the request went out
    elapsed_s: float
    status: int  # -1: no HTTP answer at all
    request_id: str | None = None


class Load:
    """Open-loop POST /api/sms at `rate` for `duration_s`, in the background; every answer kept with its time."""

    def __init__(self, api_url: str, api_key: str, rate: float, duration_s: float, label: str = "chaos",
                 keyed: bool = False):
        self.api_url, self.api_key = api_url, api_key
        self.rate, self.duration_s, self.label = rate, duration_s, label
        # keyed: request i carries Idempotency-Key "<label>-<i>" and, like a careful client, retries with the
        # same key while the gateway answers 409 idempotency_key_in_flight (after its Retry-After).
        self.keyed = keyed
        self.ids_by_key: dict[str, set[str]] = {}
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._local = threading.local()

    def start(self) -> Load:
        self._thread.start()
        return self

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout_s)

    @property
    def accepted_ids(self) -> list[str]:
        with self._lock:
            return [a.request_id for a in self.answers if a.request_id]

    def _client(self) -> httpx.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = httpx.Client(base_url=self.api_url, timeout=30,
                                                       headers={"X-Api-Key": self.api_key})
        return client

    def _one(self, t0: float, index: int) -> None:
        delay = t0 + index / self.rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        started = time.monotonic()
        body = {"phone": "+14155550100", "text": f"{self.label} {index}"}
        key = f"{self.label}-{index}"
        try:
            response = self._client().post("/api/sms", json=body,
                                           headers={"Idempotency-Key": key} if self.keyed else {})
            while self.keyed and response.status_code == 409 and time.monotonic() - started < 120:
                time.sleep(int(response.headers.get("Retry-After", "1")))
                response = self._client().post("/api/sms", json=body, headers={"Idempotency-Key": key})
            data = response.json()
            # A 202 gives the id; so does a 503 accept_outcome_unknown (stored, will still be sent).
            request_id = data.get("id") if response.status_code == 202 else data["error"].get("request_id")
            answer = Answer(started, time.monotonic() - started, response.status_code, request_id)
        except (httpx.HTTPError, ValueError):
            answer = Answer(started, time.monotonic() - started, -1)
        with self._lock:
            self.answers.append(answer)
            if self.keyed and answer.request_id:
                self.ids_by_key.setdefault(key, set()).add(answer.request_id)

    def _run(self) -> None:
        total = int(self.rate * self.duration_s)
        t0 = time.monotonic() + 0.1
        with ThreadPoolExecutor(max_workers=32, thread_name_prefix="load") as pool:
            list(pool.map(lambda i: self._one(t0, i), range(total)))


class Probe:
    """Asks one endpoint every `interval_s` while a fault lasts: how fast, and with what, does the API answer?"""

    def __init__(self, api_url: str, api_key: str, method: str, path: str, interval_s: float = 0.2):
        self.api_url, self.api_key, self.method, self.path = api_url, api_key, method, path
        self.interval_s = interval_s
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        body = {"phone": "+14155550100", "text": "probe"} if self.method == "POST" else None
        with httpx.Client(base_url=self.api_url, timeout=30, headers={"X-Api-Key": self.api_key}) as client:
            for _ in range(1000):  # bounded: 1000 probes at most
                if self._stop.is_set():
                    return
                started = time.monotonic()
                try:
                    response = client.request(self.method, self.path, json=body)
                    status = response.status_code
                    request_id = response.json().get("id") if status == 202 else None
                except (httpx.HTTPError, ValueError):
                    status, request_id = -1, None
                self.answers.append(Answer(started, time.monotonic() - started, status, request_id))
                self._stop.wait(self.interval_s)

    @property
    def statuses(self) -> Counter:
        return Counter(a.status for a in self.answers)

    @property
    def max_answer_s(self) -> float:
        return max((a.elapsed_s for a in self.answers), default=0.0)

    @property
    def accepted_ids(self) -> list[str]:
        return [a.request_id for a in self.answers if a.status == 202 and a.request_id]


# ----------------------------------------------------------------------------- the audit


@dataclass
class Audit:
    accepted: int = 0
    sent: int = 0
    failed: int = 0
    lost: int = 0  # accepted, yet not sent or failed by the deadline (or unknown to the API)
    duplicates: int = 0  # references the providers sent more than once
    sent_not_accepted: int = 0  # references the providers sent that no client was given an id for
    lost_ids: list[str] = field(default_factory=list)
    duplicate_ids: list[str] = field(default_factory=list)
    sent_not_accepted_ids: list[str] = field(default_factory=list)


def provider_sends(simulators: dict[str, str]) -> Counter:
    """How many times each reference (request id) was actually sent, over every provider."""
    sends: Counter = Counter()
    for base in simulators.values():
        for entry in httpx.get(f"{base}/_sent", timeout=30).json():
            sends[entry.get("reference")] += 1
    return sends


def wait_terminal(http: httpx.Client, ids: Iterable[str], timeout_s: float) -> dict[str, str]:
    """Final status per id ("missing" for an id the API does not know), polling until all are terminal."""
    statuses: dict[str, str] = {}
    pending = list(ids)
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        still = []
        for request_id in pending:
            try:
                response = http.get(f"/api/sms/{request_id}")
            except httpx.HTTPError:
                still.append(request_id)
                continue
            statuses[request_id] = response.json()["status"] if response.status_code == 200 else "missing"
            if statuses[request_id] not in TERMINAL:
                still.append(request_id)
        pending = still
        if pending:
            time.sleep(0.5)
    return statuses


def audit(http: httpx.Client, simulators: dict[str, str], accepted_ids: list[str], timeout_s: float,
          references: set[str] | None = None) -> Audit:
    """`references`: the request ids this fault could have produced (default: the accepted ones)."""
    statuses = wait_terminal(http, accepted_ids, timeout_s)
    sends = provider_sends(simulators)
    accepted = set(accepted_ids)
    mine = references if references is not None else accepted
    lost = [i for i in accepted_ids if statuses.get(i) not in TERMINAL]
    duplicates = [ref for ref, n in sends.items() if n > 1 and ref in mine]
    unaccepted = [ref for ref in sends if ref and ref not in accepted and (references is None or ref in references)]
    return Audit(
        accepted=len(accepted),
        sent=sum(1 for i in accepted_ids if statuses.get(i) == Status.SENT),
        failed=sum(1 for i in accepted_ids if statuses.get(i) == Status.FAILED),
        lost=len(lost),
        duplicates=len(duplicates),
        sent_not_accepted=len(unaccepted),
        lost_ids=lost[:20],
        duplicate_ids=duplicates[:20],
        sent_not_accepted_ids=unaccepted[:20],
    )


# ----------------------------------------------------------------------------- the stack


class Stack:
    """`python -m localdev.stack` as a child, with its state file read back."""

    def __init__(self, work_dir: Path, env: dict[str, str]):
        self.work_dir = work_dir
        self.state_file = work_dir / "stack.json"
        self.log_dir = work_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "PORT": str(free_port()), "MOTO_PORT": str(free_port()),
                    "SIM_BASE_PORT": str(free_port()), "STACK_STATE_FILE": str(self.state_file),
                    "STACK_LOG_DIR": str(self.log_dir), "API_KEYS": "chaos-" + uuid.uuid4().hex[:12],
                    "REDIS_KEY_PREFIX": "chaos" + uuid.uuid4().hex[:8], "PYTHONUNBUFFERED": "1",
                    # The audit counts sends per request id: the http-json providers carry it (stack_settings).
                    "SIM_KINDS": HTTP_JSON_TRIO,
                    # No delivery receipts: the audit reads `sent` as the end of dispatch.
                    "SIM_RECEIPT_DELAY_S": "-1", **env}
        for name in ("SMS_PROVIDERS", "AWS_ENDPOINT_URL"):
            if name not in env:
                self.env.pop(name, None)
        self.process: subprocess.Popen | None = None
        self.state: dict = {}

    def start(self, timeout_s: float = 120) -> Stack:
        out = open(self.log_dir / "stack.out", "wb")  # noqa: SIM115 (the child owns it)
        self.process = subprocess.Popen([sys.executable, "-m", "localdev.stack"], cwd=ROOT, env=self.env,
                                        stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while not self.state_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"local stack did not start: {(self.log_dir / 'stack.out').read_text()[-2000:]}")
            time.sleep(0.2)
        self.refresh()
        self.http = httpx.Client(base_url=self.state["api_url"], headers={"X-Api-Key": self.api_key}, timeout=30)
        return self

    def refresh(self) -> dict:
        self.state = json.loads(self.state_file.read_text())
        return self.state

    @property
    def api_url(self) -> str:
        return self.state["api_url"]

    @property
    def api_key(self) -> str:
        return self.state["api_key"]

    @property
    def simulators(self) -> dict[str, str]:
        return self.state["simulators"]

    def configure(self, name: str, **settings) -> None:
        httpx.post(f"{self.simulators[name]}/_config", json=settings, timeout=10).raise_for_status()

    def reset(self) -> None:
        """Simulators back to `ok` with empty logs, and no routing state (health windows, rate logs)."""
        import redis

        for name, base in self.simulators.items():
            httpx.post(f"{base}/_reset", timeout=10).raise_for_status()
            self.configure(name, mode="ok", latency_ms=float(self.env.get("SIM_LATENCY_MS") or 20))
        client = redis.Redis.from_url(self.state["redis_url"], socket_connect_timeout=2)
        keys = list(client.scan_iter(match=f"*{self.env['REDIS_KEY_PREFIX']}*", count=1000))
        if keys:
            client.delete(*keys)

    def aws_down(self, seconds: float) -> None:
        url = self.state.get("aws_fault_proxy_url")
        if not url:
            raise RuntimeError("the stack runs without AWS_FAULT_PROXY=1: no proxy in front of the emulator")
        httpx.post(f"{url}/down", params={"seconds": seconds}, timeout=5).raise_for_status()

    def aws_is_up(self) -> bool:
        return httpx.get(f"{self.state['aws_fault_proxy_url']}/status", timeout=5).json()["up"]

    def kill_dispatcher(self) -> int:
        pid = self.refresh()["dispatcher_pids"][0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def count_open(self) -> int:
        """Requests a dispatcher holds right now (the first page is enough to tell)."""
        return len(self.http.get("/api/sms", params={"status": Status.PROCESSING, "limit": 100}).json()["items"])

    def stop(self) -> None:
        if getattr(self, "http", None) is not None:
            self.http.close()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()


# ----------------------------------------------------------------------------- the faults


@dataclass
class FaultResult:
    fault: str
    audit: Audit
    offered: int = 0
    refused_503: int = 0
    other_answers: dict[str, int] = field(default_factory=dict)
    max_answer_s_while_down: float | None = None  # slowest API answer while the dependency was down
    answers_while_down: dict[str, int] = field(default_factory=dict)
    note: str = ""
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        slow = self.max_answer_s_while_down is not None and self.max_answer_s_while_down > 1.5
        return self.audit.lost == 0 and self.audit.duplicates == 0 and not slow


def _summarise(load: Load, result: FaultResult) -> None:
    statuses = Counter(a.status for a in load.answers)
    result.offered = len(load.answers)
    result.refused_503 = statuses.get(503, 0)
    result.other_answers = {str(k): v for k, v in statuses.items() if k not in (202, 503)}


def _while_down(answers: Iterable[Answer], start: float, end: float) -> list[Answer]:
    return [a for a in answers if start <= a.started <= end]


def fault_kill_dispatcher(stack: Stack, rate: float, duration_s: float, settle_s: float) -> FaultResult:
    # Slow providers keep batches in flight long enough that the kill lands mid-batch.
    for name in stack.simulators:
        stack.configure(name, latency_ms=400)
    load = Load(stack.api_url, stack.api_key, rate, duration_s, "kill").start()
    time.sleep(duration_s / 2)
    in_flight = stack.count_open()
    pid = stack.kill_dispatcher()
    load.join(duration_s + 60)
    result = FaultResult("kill_dispatcher", audit(stack.http, stack.simulators, load.accepted_ids, settle_s),
                         note=f"killed dispatcher {pid} with {in_flight} requests processing")
    _summarise(load, result)
    return result


def _redis_fault(stack: Stack, rate: float, duration_s: float, settle_s: float, name: str, tag: str,
                 action, note: str) -> FaultResult:
    """Load, and a third of the way in ``action()`` on the stack's redis-server while a probe watches
    GET /api/providers; then the audit, and how the probe was answered while Redis was not serving."""
    load = Load(stack.api_url, stack.api_key, rate, duration_s, tag).start()
    time.sleep(duration_s / 3)
    with Probe(stack.api_url, stack.api_key, "GET", "/api/providers") as probe:
        action()
    load.join(duration_s + 60)
    result = FaultResult(name, audit(stack.http, stack.simulators, load.accepted_ids, settle_s),
                         note=f"{note}; probe: GET /api/providers")
    _summarise(load, result)
    down = [a for a in probe.answers if a.status != 200]
    result.max_answer_s_while_down = max((a.elapsed_s for a in down), default=None)
    result.answers_while_down = {str(k): v for k, v in probe.statuses.items()}
    return result


def fault_restart_redis(stack: Stack, redis_server: OwnRedis, rate: float, duration_s: float,
                        settle_s: float, down_s: float = 3.0) -> FaultResult:
    return _redis_fault(stack, rate, duration_s, settle_s, "restart_redis", "redis",
                        lambda: redis_server.restart(down_s), f"redis-server down {down_s:g} s")


def fault_aws_refuses(stack: Stack, rate: float, duration_s: float, settle_s: float,
                      down_s: float = 10.0) -> FaultResult:
    load = Load(stack.api_url, stack.api_key, rate, max(duration_s, down_s + 6), "aws").start()
    time.sleep(3)
    began = time.monotonic()
    stack.aws_down(down_s)
    time.sleep(down_s)
    ended = time.monotonic()
    load.join(duration_s + down_s + 60)
    result = FaultResult("aws_refuses", audit(stack.http, stack.simulators, load.accepted_ids, settle_s),
                         note=f"DynamoDB + SQS refused connections for {down_s:g} s")
    _summarise(load, result)
    during = _while_down(load.answers, began + 0.05, ended - 0.05)
    result.max_answer_s_while_down = max((a.elapsed_s for a in during), default=None)
    result.answers_while_down = {str(k): v for k, v in Counter(a.status for a in during).items()}
    return result


def fault_provider_mode(stack: Stack, mode: str, rate: float, duration_s: float, settle_s: float) -> FaultResult:
    stack.configure("alpha", mode=mode)
    load = Load(stack.api_url, stack.api_key, rate, duration_s, mode).start()
    load.join(duration_s + 60)
    name = {"hang": "provider_hangs", "garbage": "provider_garbage"}[mode]
    result = FaultResult(name, audit(stack.http, stack.simulators, load.accepted_ids, settle_s),
                         note=f"alpha in mode {mode!r}")
    _summarise(load, result)
    arrivals = httpx.get(f"{stack.simulators['alpha']}/_arrivals", timeout=30).json()
    result.note += f"; alpha saw {len(arrivals)} of {result.audit.accepted} first-or-later attempts"
    return result


def fault_redis_read_only(stack: Stack, redis_server: OwnRedis, rate: float, duration_s: float,
                          settle_s: float, read_only_s: float = 4.0) -> FaultResult:
    """Defect B5: READONLY after a failover (and any other Redis error) is an outage, not a crash: intake stays
    open (uncounted), GET /api/providers answers 503 quickly, dispatchers give their records back."""
    return _redis_fault(stack, rate, duration_s, settle_s, "redis_read_only", "readonly",
                        lambda: redis_server.read_only(read_only_s),
                        f"redis-server a read-only replica for {read_only_s:g} s")


def orphan_keys(env: dict[str, str], api_key: str, aws_endpoint_url: str, label: str, indexes: Iterable[int]) -> None:
    """Reserve the Idempotency-Keys of these requests as a call that died after reserving them would have."""
    from chalicelib.clients import Defaults, registry_from_keys
    from chalicelib.settings import LOCAL_STAGE, get_settings
    from chalicelib.storage.idempotency import IdempotencyKeys, fingerprint
    from chalicelib.storage.tables import bind_tables

    settings = get_settings({**env, "STAGE": env.get("STAGE") or LOCAL_STAGE})
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # the emulator's, as the stack gives its children
        os.environ.setdefault(name, "testing")
    client = registry_from_keys([api_key], Defaults(1, 1), local=True).authenticate(api_key).name
    tables = bind_tables(settings.tables, settings.aws_region, aws_endpoint_url)
    keys = IdempotencyKeys(tables, time.time, ttl_s=3600)
    for index in indexes:
        keys.reserve(fingerprint(client, f"{label}-{index}"),
                     fingerprint("+14155550100", f"{label} {index}"), uuid.uuid4().hex)


def fault_orphaned_keys(stack: Stack, rate: float, duration_s: float, settle_s: float) -> FaultResult:
    """Defect B1: a quarter of the load's Idempotency-Keys were reserved by calls that died before storing their
    request. Their clients get 409 + Retry-After, retry, and once the reservation is older than
    IDEMPOTENCY_TAKEOVER_S one retry takes the key over: every key ends with one request, sent once."""
    orphaned = range(0, int(rate * duration_s), 4)
    orphan_keys(stack.env, stack.api_key, stack.state["aws_endpoint_url"], "orphans", orphaned)
    load = Load(stack.api_url, stack.api_key, rate, duration_s, "orphans", keyed=True).start()
    load.join(duration_s + 180)
    result = FaultResult("orphaned_keys", audit(stack.http, stack.simulators, load.accepted_ids, settle_s))
    _summarise(load, result)
    two = [key for key, ids in load.ids_by_key.items() if len(ids) > 1]
    unanswered = int(rate * duration_s) - len(load.ids_by_key)
    result.note = (f"{len(orphaned)} keys orphaned; keys with two requests: {len(two)}; "
                   f"keys never accepted: {unanswered}")
    result.audit.duplicates += len(two)
    result.audit.lost += unanswered
    return result


def refuse_dynamodb(aws_endpoint_url: str, action: str, table: str, seconds: float) -> None:
    """The AWS emulator (started with --chaos) answers this DynamoDB action on this table with 500s for a while."""
    httpx.post(f"{aws_endpoint_url}/_chaos/refuse", json={"action": action, "table": table, "seconds": seconds},
               timeout=5).raise_for_status()


def second_sends(simulators: dict[str, str]) -> int:
    """Sends that repeated an attempt a provider had already answered (the same Idempotency-Key again): the
    http-json simulators do not send those twice, but a vendor without idempotency keys would."""
    return sum(1 for base in simulators.values()
               for arrival in httpx.get(f"{base}/_arrivals", timeout=30).json() if arrival.get("duplicate"))


def finished_from_record(log_dir: Path) -> int:
    """Attempts the dispatchers finished from their recorded answer (their status write had been lost)."""
    return sum(path.read_text(errors="replace").count("finishing an abandoned attempt from its record")
               for path in log_dir.glob("dispatcher-*.log"))


def fault_status_write_lost(stack: Stack, rate: float, duration_s: float, settle_s: float,
                            windows: int = 3, window_s: float = 2.0) -> FaultResult:
    """Defect B2: the provider accepted, its answer was recorded, then the status write failed (DynamoDB
    refused UpdateItem on the requests table for a while). Once the claim's lease passes, the attempt is
    finished from its record: no second send of it, to any provider."""
    for name in stack.simulators:  # answers slow enough that sends are in flight when a window opens
        stack.configure(name, latency_ms=600)
    table = stack.env.get("REQUESTS_TABLE") or "sms_requests"
    already = finished_from_record(stack.log_dir)
    load = Load(stack.api_url, stack.api_key, rate, duration_s, "lostwrite").start()
    for _ in range(windows):
        time.sleep(duration_s / (windows + 1))
        refuse_dynamodb(stack.state["aws_endpoint_url"], "UpdateItem", table, window_s)
    load.join(duration_s + 60)
    result = FaultResult("status_write_lost", audit(stack.http, stack.simulators, load.accepted_ids, settle_s))
    _summarise(load, result)
    repeated = second_sends(stack.simulators)
    result.audit.duplicates += repeated
    result.note = (f"UpdateItem on {table} refused {windows} x {window_s:g} s; attempts finished from their "
                   f"record: {finished_from_record(stack.log_dir) - already}; attempts sent again: {repeated}")
    return result


FAULTS = ("kill_dispatcher", "restart_redis", "redis_read_only", "aws_refuses", "provider_hangs",
          "provider_garbage", "orphaned_keys", "status_write_lost")


def run(faults: Iterable[str], rate: float, duration_s: float, settle_s: float,
        log: Callable[[str], None] = print) -> list[FaultResult]:
    results: list[FaultResult] = []
    with tempfile.TemporaryDirectory(prefix="chaos-") as work:
        redis_server = OwnRedis().start()
        stack = Stack(Path(work), {
            "REDIS_URL": redis_server.url, "AWS_FAULT_PROXY": "1", "SIM_TIMEOUT_S": "1", "SIM_LATENCY_MS": "20",
            "CLAIM_LEASE_S": "10", "DISPATCH_VISIBILITY_TIMEOUT_S": "10", "SCHEDULE_INTERVAL_S": "5",
            # A request stored but answered 503 accept_outcome_unknown (never queued) is queued by the sweeper
            # after SWEEP_AFTER_S: 60 s (the least it takes) instead of 900 s, so within the audit's wait.
            "SWEEP_AFTER_S": "60",
            "IDEMPOTENCY_TAKEOVER_S": "11",
            "DISPATCHER_PROCESSES": "2",
        })
        try:
            log("starting the local stack (own redis-server, fault proxy in front of the AWS emulator) ...")
            stack.start()
            for fault in faults:
                stack.reset()
                log(f"fault: {fault}")
                began = time.monotonic()
                if fault == "kill_dispatcher":
                    result = fault_kill_dispatcher(stack, rate, duration_s, settle_s)
                elif fault == "restart_redis":
                    result = fault_restart_redis(stack, redis_server, rate, duration_s, settle_s)
                elif fault == "redis_read_only":
                    result = fault_redis_read_only(stack, redis_server, rate, duration_s, settle_s)
                elif fault == "orphaned_keys":
                    result = fault_orphaned_keys(stack, rate, duration_s, settle_s)
                elif fault == "status_write_lost":
                    result = fault_status_write_lost(stack, rate, duration_s, settle_s)
                elif fault == "aws_refuses":
                    result = fault_aws_refuses(stack, rate, duration_s, settle_s)
                elif fault == "provider_hangs":
                    result = fault_provider_mode(stack, "hang", rate, duration_s, settle_s)
                else:
                    result = fault_provider_mode(stack, "garbage", rate, duration_s, settle_s)
                result.duration_s = round(time.monotonic() - began, 1)
                results.append(result)
        finally:
            stack.stop()
            redis_server.kill()
    return results


def print_table(results: list[FaultResult]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="chaos: every accepted SMS ends sent or failed, none sent twice")
    for column in ("fault", "offered", "accepted", "503", Status.SENT, Status.FAILED, "lost", "duplicates",
                   "sent, not accepted", "max API answer while down", "verdict"):
        table.add_column(column, justify="left" if column == "fault" else "right")
    for r in results:
        slowest = "-" if r.max_answer_s_while_down is None else f"{r.max_answer_s_while_down:.2f} s"
        table.add_row(r.fault, str(r.offered), str(r.audit.accepted), str(r.refused_503), str(r.audit.sent),
                      str(r.audit.failed), str(r.audit.lost), str(r.audit.duplicates),
                      str(r.audit.sent_not_accepted), slowest,
                      "[green]ok[/green]" if r.ok else "[red]FAILED[/red]")
    console = Console(width=None if sys.stdout.isatty() else 160)  # a log file gets every column
    console.print(table)
    for r in results:
        console.print(f"  {r.fault}: {r.note}; answers while down: {r.answers_while_down or '-'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=15, help="offered requests per second")
    parser.add_argument("--duration", type=float, default=12, help="seconds of load per fault")
    parser.add_argument("--settle", type=float, default=180, help="seconds to wait for every request to end")
    parser.add_argument("--only", default=",".join(FAULTS), help=f"comma-separated subset of {', '.join(FAULTS)}")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    faults = [f.strip() for f in args.only.split(",") if f.strip()]
    unknown = set(faults) - set(FAULTS)
    if unknown:
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}")
    results = run(faults, args.rate, args.duration, args.settle)
    print_table(results)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"chaos-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps({"rate": args.rate, "duration_s": args.duration,
                                "results": [{**asdict(r), "ok": r.ok} for r in results]}, indent=2))
    print(f"figures written to {path}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
