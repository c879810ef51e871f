"""The integration tier: the real local stack (moto server, Redis, provider simulators over HTTP,
the chalice local API and the queue emulation in dispatcher processes), started per test module."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis

from chalicelib.lifecycle import TERMINAL, Status
from localdev.stack import ROOT, free_port
from localdev.stack_settings import HTTP_JSON_TRIO


@dataclass
class StackHandle:
    process: subprocess.Popen
    state: dict
    env: dict
    log_dir: Path
    http: httpx.Client = field(init=False)

    def __post_init__(self):
        self.http = httpx.Client(base_url=self.state["api_url"] or "", headers={"X-Api-Key": self.state["api_key"]},
                                 timeout=10)

    @property
    def simulators(self) -> dict[str, str]:
        """name -> base URL of each simulator the stack started (their control endpoints hang off it)."""
        return self.state["simulators"]

    def configure(self, name: str, **settings) -> None:
        httpx.post(f"{self.simulators[name]}/_config", json=settings, timeout=5).raise_for_status()

    def arrivals(self, name: str) -> list[dict]:
        return httpx.get(f"{self.simulators[name]}/_arrivals", timeout=10).json()

    def sent(self, name: str) -> list[dict]:
        return httpx.get(f"{self.simulators[name]}/_sent", timeout=10).json()

    def reset(self) -> None:
        """Fresh simulators and fresh routing state (health windows, rate logs) between tests."""
        for name in self.simulators:
            httpx.post(f"{self.simulators[name]}/_reset", timeout=5).raise_for_status()
            self.configure(name, mode="ok")
        client = redis.Redis.from_url(self.state["redis_url"])
        keys = list(client.scan_iter(match=f"*{self.env['REDIS_KEY_PREFIX']}*", count=1000))
        if keys:
            client.delete(*keys)

    def send(self, phone: str = "+14155550100", text: str = "hello", **headers) -> str:
        response = self.http.post("/api/sms", json={"phone": phone, "text": text}, headers=headers)
        assert response.status_code == 202, response.text
        return response.json()["id"]

    def get(self, request_id: str) -> dict:
        response = self.http.get(f"/api/sms/{request_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def queue_depth(self) -> int:
        """Messages on the dispatch queue: visible, in flight and delayed."""
        import boto3

        sqs = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="testing",
                           aws_secret_access_key="testing",
                           endpoint_url=self.env.get("AWS_ENDPOINT_URL_SQS") or self.state["aws_endpoint_url"])
        url = sqs.get_queue_url(QueueName="sms-dispatch")["QueueUrl"]
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                 "ApproximateNumberOfMessagesDelayed"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        return sum(int(attributes[name]) for name in names)

    def list_terminal(self, wanted: set[str]) -> dict[str, dict]:
        """The views of the wanted requests that are done dispatching, read through GET /api/sms?status=."""
        found: dict[str, dict] = {}
        for status in sorted(TERMINAL):
            cursor = None
            while True:
                params = {"status": status, "limit": 100, **({"cursor": cursor} if cursor else {})}
                page = self.http.get("/api/sms", params=params).json()
                found.update({item["id"]: item for item in page["items"] if item["id"] in wanted})
                cursor = page["next_cursor"]
                if not cursor:
                    break
        return found

    def wait_terminal(self, ids: list[str], timeout_s: float) -> dict[str, dict]:
        """Wait until every request is sent or failed; returns the last view of each.

        While the queue still holds work, only the queue is watched (one call a second), so that polling
        does not take CPU from the dispatchers; then the requests are read, eight at a time."""
        from concurrent.futures import ThreadPoolExecutor

        deadline = time.monotonic() + timeout_s
        views: dict[str, dict] = {}
        pending = list(ids)
        with ThreadPoolExecutor(max_workers=8) as pool:
            while pending and time.monotonic() < deadline:
                if len(pending) > 50 and self.queue_depth() > 0:
                    time.sleep(1)
                    continue
                if len(pending) > 200:  # many: list the finished ones, 100 a page, rather than one by one
                    views.update(self.list_terminal(set(pending)))
                    pending = [i for i in pending if i not in views]
                for view in pool.map(self.get, pending):
                    views[view["id"]] = view
                pending = [i for i in pending if views[i]["status"] not in TERMINAL]
                if pending:
                    time.sleep(0.5)
        return views

    def wait_delivery_result(self, ids: list[str], timeout_s: float) -> dict[str, dict]:
        """Wait until every request is delivered or undelivered (its receipt applied); the last view of each."""
        final = {Status.DELIVERED, Status.UNDELIVERED}
        views: dict[str, dict] = {}
        pending, deadline = list(ids), time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            for request_id in pending:
                views[request_id] = self.get(request_id)
            pending = [i for i in pending if views[i]["status"] not in final]
            if pending:
                time.sleep(1)
        return views

    def offer_load(self, rate: float, duration_s: float, workers: int = 64) -> list[tuple[int, str | None]]:
        """Open loop: request i is sent at t0 + i/rate whatever the answers; returns (status, id) per request."""
        import threading
        from concurrent.futures import ThreadPoolExecutor

        total = int(rate * duration_s)
        results: list[tuple[int, str | None]] = [(0, None)] * total
        local = threading.local()
        t0 = time.monotonic() + 0.2

        def send(i: int) -> None:
            client = getattr(local, "client", None)
            if client is None:
                client = local.client = httpx.Client(base_url=self.state["api_url"], timeout=30,
                                                     headers={"X-Api-Key": self.state["api_key"]})
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                response = client.post("/api/sms", json={"phone": "+14155550100", "text": f"load {i}"})
                results[i] = (response.status_code, response.json().get("id") if response.status_code == 202 else None)
            except httpx.HTTPError:
                results[i] = (-1, None)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(send, range(total)))
        return results

    def stop(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_stack(tmp_dir: Path, *args: str, **overrides: str) -> StackHandle:
    state_file = tmp_dir / "stack.json"
    env = {
        **os.environ,
        "PORT": str(free_port()),
        "MOTO_PORT": str(free_port()),
        "SIM_BASE_PORT": str(free_port()),
        "STACK_STATE_FILE": str(state_file),
        "API_KEYS": "it-key-" + uuid.uuid4().hex[:8],
        "REDIS_KEY_PREFIX": "it" + uuid.uuid4().hex[:8],
        "SIM_LATENCY_MS": "5",
        "SIM_KINDS": HTTP_JSON_TRIO,  # the routing tests' providers; a module overrides it to test the vendors
        "SCHEDULE_INTERVAL_S": "5",
        "SIM_RECEIPT_DELAY_S": "-1",  # no delivery receipts unless a module asks: most tests end at `sent`
        "PYTHONUNBUFFERED": "1",
        **overrides,
    }
    for name in ("SMS_PROVIDERS", "AWS_ENDPOINT_URL"):
        if name not in overrides:
            env.pop(name, None)
    log_dir = tmp_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    env["STACK_LOG_DIR"] = str(log_dir)
    process = subprocess.Popen([sys.executable, "-m", "localdev.stack", *args], cwd=ROOT, env=env,
                               stdout=open(log_dir / "stack.out", "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
    deadline = time.monotonic() + 90
    while not state_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"local stack did not start: {(log_dir / 'stack.out').read_text()[-3000:]}")
        time.sleep(0.2)
    return StackHandle(process, json.loads(state_file.read_text()), env, log_dir)


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    """Override in a test module to start its stack with other settings."""
    return {}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, stack_env):
    handle = start_stack(tmp_path_factory.mktemp("stack"), **stack_env)
    yield handle
    handle.stop()
    # Each function process ran under its own IAM policy (IAM_ENFORCE): a call AWS would deny was refused and
    # logged, and the code may well have carried on (a callback left for the sweeper): a denial fails the module.
    denied = iam_denials(handle.log_dir)
    assert not denied, "AWS would deny:\n" + "\n".join(denied)


def iam_denials(log_dir: Path) -> list[str]:
    """The `iam: <function>: <action> on <resource> denied (...)` lines of the stack's function processes."""
    logs = [*log_dir.glob("*.log"), log_dir / "stack.out"]  # stack.out: the scheduled functions' thread
    lines = (line.strip() for log in logs if log.exists() for line in log.read_text(errors="replace").splitlines())
    return sorted({line for line in lines if line.startswith("iam: ") and " denied (not in " in line})


@pytest.fixture
def fresh_stack(stack):
    stack.reset()
    return stack

