"""The benchmark's own local stack: every piece a child process with a PID, on free ports.

    redis-server (own, so INFO commandstats counts only the gateway; falls back to REDIS_URL)
    localdev.aws_emulator (moto)  <- bench.aws_proxy (counts AWS calls)  <- AWS_ENDPOINT_URL of the stack
    python -m bench.stack_process  (localdev.stack: simulators, chalice local API, dispatchers)

The state file written by the stack gives the URLs and the PIDs; `pids()` adds the ones started here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import redis

from localdev.stack import ROOT, free_port, http_ok, wait_until
from localdev.stack_settings import HTTP_JSON_TRIO

PYTHON = sys.executable


@dataclass
class BenchStack:
    env_overrides: dict[str, str]
    redis_url: str | None = None  # None: start a redis-server of our own
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="smsgw-bench-")))
    children: dict[str, subprocess.Popen] = field(default_factory=dict)
    state: dict = field(default_factory=dict)

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 (the child owns it)
        child = subprocess.Popen(args, cwd=ROOT, env=env or os.environ.copy(), stdout=log, stderr=subprocess.STDOUT)
        self.children[name] = child
        return child

    def start(self, timeout_s: float = 90) -> BenchStack:
        if self.redis_url is None:
            if shutil.which("redis-server"):
                port = free_port()
                self._spawn("redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"])
                self.redis_url = f"redis://127.0.0.1:{port}/0"
            else:
                self.redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        wait_until(lambda: redis.Redis.from_url(self.redis_url).ping(), 10, "redis")

        moto_port = free_port()
        # The project's emulator: moto with its SQS made to scale and its conditional writes atomic.
        self._spawn("moto", [PYTHON, "-m", "localdev.aws_emulator", "--host", "127.0.0.1", "--port", str(moto_port)])
        self.moto_url = f"http://127.0.0.1:{moto_port}"
        wait_until(lambda: http_ok(f"{self.moto_url}/moto-api/"), 30, "moto server")
        proxy_port = free_port()
        self._spawn("aws_proxy", [PYTHON, "-m", "bench.aws_proxy", "--upstream", self.moto_url,
                                  "--port", str(proxy_port)])
        self.proxy_url = f"http://127.0.0.1:{proxy_port}"
        wait_until(lambda: http_ok(f"{self.proxy_url}/__bench__/counts"), 10, "AWS counting proxy")

        state_file = self.workdir / "stack.json"
        env = os.environ.copy()
        for name in ("SMS_PROVIDERS", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_DYNAMODB", "API_KEYS_SECRET_ID"):
            env.pop(name, None)
        env.update({
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.proxy_url,
            "REDIS_URL": self.redis_url,
            "REDIS_KEY_PREFIX": f"bench{os.getpid()}",
            "PORT": str(free_port()),
            "SIM_BASE_PORT": str(free_port()),
            "STACK_STATE_FILE": str(state_file),
            "API_KEYS": "bench-key",
            "SIM_KINDS": HTTP_JSON_TRIO,  # the benchmark measures routing over alpha, beta and gamma
            "SIM_RECEIPT_DELAY_S": "-1",  # no delivery receipts: it measures dispatch
        })
        env.update(self.env_overrides)
        self.env = env
        self._spawn("stack", [PYTHON, "-m", "bench.stack_process", "--log-dir", str(self.workdir / "logs")], env)
        deadline = time.monotonic() + timeout_s
        while not state_file.exists():
            if self.children["stack"].poll() is not None:
                raise RuntimeError(f"the local stack exited; see {self.workdir / 'stack.log'}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the local stack did not start within {timeout_s:.0f} s")
            time.sleep(0.2)
        self.state = json.loads(state_file.read_text())
        self.state_file = state_file
        return self

    def refresh_state(self) -> dict:
        with contextlib.suppress(OSError, ValueError):  # mid-rewrite: keep the last one
            self.state = json.loads(self.state_file.read_text())
        return self

    def pids(self) -> dict[str, int]:
        """Every process whose CPU a figure is made of, by role."""
        self.refresh_state()
        pids = {"api": self.state["pids"]["api"], "simulators": self.state["pids"]["simulators"],
                "aws emulator (moto)": self.children["moto"].pid,
                "aws proxy (bench only)": self.children["aws_proxy"].pid,
                "stack supervisor + scheduler": self.state["stack_pid"]}
        for index, pid in enumerate(self.state["dispatcher_pids"]):
            pids[f"dispatcher-{index}"] = pid
        with contextlib.suppress(redis.RedisError):
            pids["redis"] = int(redis.Redis.from_url(self.redis_url).info("server")["process_id"])
        return pids

    @property
    def providers(self) -> list[dict]:
        return self.state["providers"]

    def simulator_base(self, name: str) -> str:
        return self.state["simulators"][name]

    def aws_counts(self, reset: bool = False) -> dict:
        url = f"{self.proxy_url}/__bench__/{'reset' if reset else 'counts'}"
        request = urllib.request.Request(url, method="POST" if reset else "GET")  # noqa: S310 (local proxy)
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (local)
            return json.loads(response.read())

    def slow_aws(self, factor: float) -> None:
        """Every AWS call takes `factor` times as long (the counting proxy holds its answer back)."""
        request = urllib.request.Request(f"{self.proxy_url}/__bench__/slow?factor={factor:g}", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=5):  # noqa: S310 (local)
            pass

    def stop(self) -> None:
        order = ["stack", "aws_proxy", "moto", "redis"]
        for name in order:
            child = self.children.get(name)
            if child is not None and child.poll() is None:
                child.terminate()
                try:
                    child.wait(20 if name == "stack" else 5)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait(5)
        if not os.environ.get("BENCH_KEEP_LOGS"):  # BENCH_KEEP_LOGS=1 keeps the children's logs for a post-mortem
            shutil.rmtree(self.workdir, ignore_errors=True)
