"""The whole gateway on one machine, offline, in the foreground: `make run`; or all of it but the HTTP API,
for `chalice local` to serve beside it: `make deps` (--no-api), which prints the command to run.

Starts, in order: the AWS emulator (moto server, unless AWS_ENDPOINT_URL names one, such as
LocalStack), Redis (REDIS_URL if it answers, else `redis-server` from PATH, else
fakeredis.TcpFakeServer), the tables and queues, provider simulators (one per SIM_KINDS entry:
twilio, vonage, aws and http-json by default; none when SMS_PROVIDERS is set), a status-callback
receiver (the dev client's default callback URL, signed with its callback secret), the HTTP API on
PORT, and the queue emulation (dispatcher processes that feed the Chalice SQS handler, and one
process that feeds the callbacks handler). It
restarts a dispatcher that dies, as Lambda would, runs the scheduled functions, and stops every
child on Ctrl-C or SIGTERM.

The state file (.run/stack.json, or STACK_STATE_FILE) records URLs and PIDs, so tests and
chaos scripts can find and kill a dispatcher.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from contextlib import closing, nullcontext
from pathlib import Path

from chalicelib.settings import ENV_NAMES, LOCAL_STAGE, get_settings
from localdev.env_example import env_defaults
from localdev.stack_settings import StackSettings

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# The dev client's own sender ids (docs/api.md's examples send as ACME); any other from is 422, as on AWS.
DEV_SENDERS = ("ACME",)


_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, never one this process handed out before: the kernel may give the same
    free port twice before the first taker binds it."""
    for _ in range(200):
        with closing(socket.socket()) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no free local port found")


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now. SO_REUSEADDR, as servers set it: the closed
    connections a stopped server leaves in TIME_WAIT for a minute do not hold the port."""
    with closing(socket.socket()) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_until(check, timeout_s: float, what: str, interval_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # still starting: any error means "not yet"
            last_error = exc
        time.sleep(interval_s)
    raise RuntimeError(f"{what} did not come up within {timeout_s:.0f} s ({last_error})")


def http_ok(url: str, timeout_s: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 (local URLs only)
            return 200 <= response.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except OSError:
        return False


def scheduled_event(region: str) -> dict:
    """The EventBridge event a `Rate` schedule delivers."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": region,
        "resources": [],
        "detail": {},
    }


def load_dotenv_file() -> None:
    env_file = ROOT / ".env"
    if env_file.exists():
        from dotenv import load_dotenv

        load_dotenv(env_file, override=False)


class LocalStack:
    """Children and their PIDs; start() brings everything up, stop() takes it down in reverse."""

    def __init__(self, env: dict[str, str] | None = None, log_dir: Path | None = None):
        self.env = dict(os.environ if env is None else env)
        # Ports chosen for us by whoever started the stack are taken, even before anything binds them.
        for name in ("PORT", "MOTO_PORT"):
            if self.env.get(name, "").isdigit():
                _handed_out.add(int(self.env[name]))
        if self.env.get("SIM_BASE_PORT", "").isdigit():
            _handed_out.update(int(self.env["SIM_BASE_PORT"]) + i for i in range(3))
        if not self.env.get("STAGE"):
            self.env["STAGE"] = LOCAL_STAGE
        self.settings = StackSettings.from_env(self.env)
        self.children: dict[str, subprocess.Popen] = {}
        self.dispatchers: list[subprocess.Popen] = []
        self.fake_redis = None
        self.started: list[str] = []
        self.log_dir = log_dir or Path(self.env.get("STACK_LOG_DIR") or ROOT / ".run" / "logs")
        self.state_file = Path(self.env.get("STACK_STATE_FILE", ROOT / ".run" / "stack.json"))
        self._stopping = threading.Event()
        self._scheduler: threading.Thread | None = None
        self.aws_fault_proxy_url: str | None = None
        self.simulators: dict[str, str] = {}  # name -> base URL of the simulators this stack started
        self.api_url: str | None = None
        self.callback_receiver_url: str | None = None
        self.callback_secret: str | None = None
        self.chalice_local_env: Path | None = None  # the file `make deps` wrote for chalice local
        # The local receiver listens on 127.0.0.1, which the SSRF guard refuses unless allowed by name.
        self.env.setdefault("CALLBACK_ALLOWED_HOSTS", "127.0.0.1")

    # ----------------------------------------------------------------- children

    def _spawn(self, name: str, args: list[str], extra_env: dict[str, str] | None = None,
               function: str | None = None) -> subprocess.Popen:
        """``function``: the Lambda function the child stands in for; it runs under that function's policy."""
        if function and self.settings.iam_enforce:
            extra_env = {**(extra_env or {}), "IAM_FUNCTION": function}
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (the child owns it)
        child = subprocess.Popen(args, cwd=ROOT, env={**self.env, **(extra_env or {})}, stdout=log,
                                 stderr=subprocess.STDOUT)
        self.children[name] = child
        return child

    def _spawn_dispatcher(self, index: int) -> subprocess.Popen:
        child = self._spawn(f"dispatcher-{index}", [PYTHON, "-m", "localdev.queue_emulator"], function="dispatch_sms")
        if index < len(self.dispatchers):
            self.dispatchers[index] = child
        else:
            self.dispatchers.append(child)
        return child

    # ----------------------------------------------------------------- pieces

    def start_aws(self) -> None:
        env = self.env
        env.setdefault("AWS_ACCESS_KEY_ID", "testing")
        env.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        if env.get("AWS_ENDPOINT_URL"):
            wait_until(lambda: http_ok(env["AWS_ENDPOINT_URL"]), 10, f"AWS emulator at {env['AWS_ENDPOINT_URL']}")
            self.started.append(f"AWS emulator (external)  {env['AWS_ENDPOINT_URL']}")
            return
        port = self.settings.moto_port
        if not port_is_free(port):
            port = free_port()
        # AWS_FAULT_PROXY=1: the emulator on an internal port, localdev.fault_proxy on `port`, so chaos tests
        # can make "AWS" refuse connections (the proxy's control URL goes into the state file), and the
        # emulator with --chaos, so they can make it refuse one DynamoDB action on one table.
        emulator_port = free_port() if env.get("AWS_FAULT_PROXY") == "1" else port
        chaos = ["--chaos"] if emulator_port != port else []
        self._spawn("moto", [PYTHON, "-m", "localdev.aws_emulator", "--host", "127.0.0.1", "--port",
                             str(emulator_port), *chaos])
        if emulator_port != port:
            control_port = free_port()
            self._spawn("aws-fault-proxy", [PYTHON, "-m", "localdev.fault_proxy", "--listen", f"127.0.0.1:{port}",
                                            "--upstream", f"127.0.0.1:{emulator_port}",
                                            "--control", str(control_port)])
            self.aws_fault_proxy_url = f"http://127.0.0.1:{control_port}"
        env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_ok(f"{env['AWS_ENDPOINT_URL']}/moto-api/"), 30, "moto server")
        sqs_note = f" (SQS at {env['AWS_ENDPOINT_URL_SQS']})" if env.get("AWS_ENDPOINT_URL_SQS") else ""
        self.started.append(f"AWS emulator (moto)     {env['AWS_ENDPOINT_URL']}{sqs_note}")

    def start_redis(self) -> None:
        import redis

        url = self.env.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
        try:
            redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
            self.env["REDIS_URL"] = url
            self.started.append(f"Redis (existing)        {url}")
            return
        except redis.RedisError:
            pass
        port = free_port()
        self.env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        if shutil.which("redis-server"):
            self._spawn("redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no"])
            what = "redis-server"
        else:
            from fakeredis import TcpFakeServer

            self.fake_redis = TcpFakeServer(("127.0.0.1", port), server_type="redis")
            threading.Thread(target=self.fake_redis.serve_forever, daemon=True).start()
            what = "fakeredis TCP server"
        wait_until(lambda: redis.Redis.from_url(self.env["REDIS_URL"]).ping(), 10, what)
        self.started.append(f"Redis ({what}){' ' * max(1, 16 - len(what))}{self.env['REDIS_URL']}")

    def start_simulators(self) -> None:
        """One simulator per SIM_KINDS entry (default: one of each kind), each with credentials made up for
        this run, and SMS_PROVIDERS pointing the gateway at them with those credentials."""
        if self.env.get("SMS_PROVIDERS"):
            names = [p["name"] for p in json.loads(self.env["SMS_PROVIDERS"])]
            self.started.append(f"Providers (SMS_PROVIDERS) {', '.join(names)}: no simulators started")
            return
        from localdev.simulators import WIRE_FORMATS

        base = self.settings.sim_base_port
        rate_limit = self.settings.sim_rate_limit
        latency = self.settings.sim_latency_ms
        chosen = self.settings.simulators
        ports = [base + i if port_is_free(base + i) else free_port() for i in range(len(chosen))]
        many, providers = [], []
        for (name, kind), port, weight in zip(chosen, ports, self.settings.weights, strict=True):
            simulator_auth, entry = WIRE_FORMATS[kind].local_setup(f"http://127.0.0.1:{port}", self.env)
            receipts, receipt_entry = self._receipts_of(name, kind, simulator_auth, entry)
            entry.update(receipt_entry)
            many.append({"name": name, "kind": kind, "port": port, "rate_limit": rate_limit, "latency_ms": latency,
                         "jitter_ms": latency / 2, **simulator_auth, **receipts})
            providers.append({"name": name, "kind": kind, **entry, "rate_limit": rate_limit, "weight": weight,
                              "timeout_s": self.settings.sim_timeout_s})
        self._spawn("simulators", [PYTHON, "-m", "localdev.provider_simulator", "--many", json.dumps(many)])
        self.env["SMS_PROVIDERS"] = json.dumps(providers)
        for (name, kind), port in zip(chosen, ports, strict=True):
            self.simulators[name] = f"http://127.0.0.1:{port}"
            wait_until(lambda port=port: http_ok(f"http://127.0.0.1:{port}/_health"), 10, f"simulator {name}")
            self.started.append(f"Provider simulator      {name} ({kind}): http://127.0.0.1:{port} ({rate_limit}/s)")

    def _delivery_events_queue(self) -> str:
        return self.env.get("DELIVERY_EVENTS_QUEUE_NAME") or env_defaults()["DELIVERY_EVENTS_QUEUE_NAME"]

    def _receipts_of(self, name: str, kind: str, simulator_auth: dict, entry: dict) -> tuple[dict, dict]:
        """(simulator settings, entry fields) for its delivery receipts: to the API's /webhooks/<name>, signed
        with secrets made up for this run (aws: onto the delivery-events queue)."""
        from chalicelib.vendors import kind_named
        from localdev.simulators import WIRE_FORMATS

        if self.settings.sim_receipt_delay_s < 0:
            return {}, {}
        url = f"http://127.0.0.1:{int(self.env.get('PORT') or 8000)}/webhooks/{name}"
        if kind_named(kind).delivery_events:  # onto the delivery-events queue, as aws's SNS subscription puts them
            url = f"sqs://{self._delivery_events_queue()}"
        receipts, entry_fields = WIRE_FORMATS[kind].local_receipts(url, simulator_auth, entry)
        return {**receipts, "receipt_delay_s": self.settings.sim_receipt_delay_s,
                "receipt_jitter_s": self.settings.sim_receipt_jitter_s,
                "undelivered_share": self.settings.sim_undelivered_share}, entry_fields

    def create_resources(self) -> None:
        """Tables and queues from infra/data.json, as on AWS (idempotent; existing ones are kept)."""
        os.environ.update(self.env)
        import boto3

        from chalicelib.settings import get_settings
        from localdev.resources import create_queues, create_tables

        settings = get_settings(self.env)
        create_tables(settings, wait=True)
        # infra/data.json's queues, with the local stack's shorter visibility timeout and redrive (settings).
        create_queues(settings, overrides={"DispatchQueue": {
            "VisibilityTimeout": str(self.settings.dispatch_visibility_timeout_s),
            "maxReceiveCount": str(self.settings.dlq_max_receive_count)}},
            report=lambda note: print(f"note: {note}", flush=True))
        # As on AWS, the functions are given the queues' URLs (a lookup by name is sqs:GetQueueUrl, which no
        # function's policy grants).
        sqs = boto3.session.Session().client("sqs", region_name=settings.aws_region)
        for variable, queue in (("DISPATCH_QUEUE_URL", settings.queues.dispatch_queue_name),
                                ("CALLBACK_QUEUE_URL", settings.queues.callback_queue_name),
                                ("CALLBACK_DLQ_URL", f"{settings.queues.callback_queue_name}-dlq")):
            self.env.setdefault(variable, sqs.get_queue_url(QueueName=queue)["QueueUrl"])
        self.started.append(f"Tables and queues       {settings.tables.requests}, "
                            f"{settings.queues.dispatch_queue_name} (+DLQ)")

    def start_callback_receiver(self) -> None:
        """A client's callback endpoint (localdev/callback_receiver.py), and a registry in which every dev key's
        client signs its callbacks with one secret and sends them there by default. Not when the operator
        brought a registry (CLIENTS, API_KEYS_SECRET_ID): its clients have their own URLs and secrets."""
        if self.env.get("CLIENTS") or self.env.get("API_KEYS_SECRET_ID"):
            self.started.append("Callback receiver       not started: CLIENTS names the clients' callback URLs")
            return
        from chalicelib.clients import KEY_HASH_PREFIX, key_hash

        self.env.setdefault("API_KEYS", "dev-" + secrets.token_urlsafe(24))
        port = self.settings.callback_receiver_port
        if not port_is_free(port):
            port = free_port()
        self.callback_secret = secrets.token_urlsafe(32)
        self._spawn("callback-receiver", [PYTHON, "-m", "localdev.callback_receiver", "--port", str(port)],
                    extra_env={"CALLBACK_RECEIVER_SECRET": self.callback_secret})
        self.callback_receiver_url = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_ok(f"{self.callback_receiver_url}/_stats"), 15, "callback receiver")
        clients = {}
        for key in filter(None, (k.strip() for k in self.env["API_KEYS"].split(","))):
            digest = key_hash(key)  # named as API_KEYS would name it: the same client, now with callbacks
            clients[f"key-{digest[len(KEY_HASH_PREFIX):][:12]}"] = {
                "key_hashes": [digest], "roles": ["send", "operator"], "callback_secret": self.callback_secret,
                "callback_url": f"{self.callback_receiver_url}/sms-status", "senders": list(DEV_SENDERS)}
        self.env["CLIENTS"] = json.dumps({"clients": clients})
        self.started.append(f"Callback receiver       {self.callback_receiver_url}/sms-status  (the dev client's "
                            f"default callback URL; callback-receiver.log); its senders: {', '.join(DEV_SENDERS)}")

    def start_callbacks(self) -> None:
        """The callbacks queue's event source: one process feeding app.deliver_callbacks."""
        gateway = get_settings(self.env)
        self._spawn("callbacks", [PYTHON, "-m", "localdev.queue_emulator", "--handler", "app:deliver_callbacks",
                                  "--init", "chalicelib.wiring:get_callback_delivery",
                                  "--queue-name", gateway.queues.callback_queue_name, "--concurrency", "4",
                                  "--window", "0"], function="deliver_callbacks")
        self.started.append(f"Callback delivery       {gateway.queues.callback_queue_name} (+DLQ) -> "
                            "app.deliver_callbacks")

    def start_api(self) -> None:
        if not self.env.get("API_KEYS"):
            self.env["API_KEYS"] = "dev-" + secrets.token_urlsafe(24)
        port = int(self.env.get("PORT") or 8000)
        if not port_is_free(port):
            raise RuntimeError(f"PORT {port} is already in use: stop what listens there or set PORT=<free port>")
        self.env["PORT"] = str(port)
        self._spawn("api", [PYTHON, "-m", "localdev.api_server", "--port", str(port)], function="api_handler")
        self.api_url = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_ok(f"{self.api_url}/health", timeout_s=3), 30, "HTTP API")
        self.started.append(f"HTTP API                {self.api_url}  (docs: {self.api_url}/docs)")

    def start_dispatchers(self) -> None:
        count = self.settings.dispatcher_processes
        for index in range(count):
            self._spawn_dispatcher(index)
        concurrency = self.settings.dispatch_concurrency
        self.started.append(f"Queue emulation         {count} dispatcher processes x {concurrency} invocations")
        # The delivery events handler on its own queue (aws providers' events, as SNS delivers them).
        self._spawn("delivery-events", [PYTHON, "-m", "localdev.queue_emulator", "--handler",
                                        "app:apply_delivery_events", "--init", "chalicelib.wiring:get_receipts",
                                        "--queue-name", self._delivery_events_queue(),
                                        "--concurrency", "2"], function="apply_delivery_events")
        self.started.append("Queue emulation         delivery events (sms-delivery-events -> apply_delivery_events)")

    def start_scheduler(self) -> None:
        """The @app.schedule functions, run in this process as EventBridge would run them."""
        interval = self.settings.schedule_interval_s
        os.environ.update(self.env)

        def run():
            import app as gateway
            from localdev.iam_policies import enforce_function_policy
            from localdev.queue_emulator import LambdaContext

            handlers = {"sweep_stuck_requests": gateway.sweep_stuck_requests,
                        "snapshot_provider_health": gateway.snapshot_provider_health}
            # Each runs under its own policy, as on AWS; the stack's own calls (other threads) are not checked.
            checked = None
            if self.settings.iam_enforce:
                try:
                    checked = enforce_function_policy(None)
                except Exception as exc:  # (the emulator unreachable right now) the schedule must run all the same
                    print(f"iam: not enforced for the scheduled functions: {exc!r}", file=sys.stderr, flush=True)
            while not self._stopping.wait(interval):
                for name, handler in handlers.items():
                    try:
                        with checked.running_in_this_thread(name) if checked else nullcontext():
                            handler(scheduled_event(self.env.get("AWS_DEFAULT_REGION", "us-east-1")), LambdaContext())
                    except Exception as exc:  # a failed run is retried at the next tick, as on AWS
                        print(f"schedule: {name} failed: {exc!r}", file=sys.stderr, flush=True)

        self._scheduler = threading.Thread(target=run, name="scheduler", daemon=True)
        self._scheduler.start()
        self.started.append(f"Scheduled functions     sweep + health snapshot every {interval:g} s")

    # ----------------------------------------------------------------- lifecycle

    def start(self, api: bool = True) -> LocalStack:
        """Everything; with api=False everything but the HTTP API (`make deps`: chalice local serves it)."""
        began = time.monotonic()
        self.start_aws()
        self.start_redis()
        self.start_simulators()
        self.create_resources()
        self.start_callback_receiver()
        if api:
            self.start_api()
        else:
            self.env.setdefault("API_KEYS", "dev-" + secrets.token_urlsafe(18))
        self.start_dispatchers()
        self.start_callbacks()
        self.start_scheduler()
        self.ready_after_s = time.monotonic() - began
        if not api:
            self.chalice_local_env = write_chalice_local_env(self)
        self.write_state()
        return self

    def write_state(self) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "api_url": self.api_url,
            "api_key": self.env["API_KEYS"].split(",")[0],
            "aws_endpoint_url": self.env["AWS_ENDPOINT_URL"],
            "redis_url": self.env["REDIS_URL"],
            "aws_fault_proxy_url": self.aws_fault_proxy_url,
            # With the simulators' made-up credentials, like the dev API key above: tools build clients from it.
            "providers": json.loads(self.env["SMS_PROVIDERS"]),
            "simulators": self.simulators,
            "pids": {name: child.pid for name, child in self.children.items()},
            "dispatcher_pids": [child.pid for child in self.dispatchers],
            "stack_pid": os.getpid(),
            "chalice_local": None if self.api_url else chalice_local_command(int(self.env.get("PORT") or 8000)),
            "chalice_local_env_file": None if self.api_url else str(chalice_local_env_file(self.env)),
            "ready_after_s": round(self.ready_after_s, 2),
            # The dev client's callback secret, like its API key: a local tool verifies callbacks with it.
            "callback_receiver_url": self.callback_receiver_url,
            "callback_secret": self.callback_secret,
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_file)

    def supervise(self) -> int:
        """Restart dispatchers that die (Lambda would start a new one); stop if anything else dies."""
        while not self._stopping.wait(0.5):
            for index, child in enumerate(self.dispatchers):
                if child.poll() is not None:
                    print(f"dispatcher {child.pid} exited ({child.returncode}); starting a new one", flush=True)
                    self._spawn_dispatcher(index)
                    self.write_state()
            for name, child in self.children.items():
                if not name.startswith("dispatcher") and child.poll() is not None:
                    print(f"{name} exited with {child.returncode}; see {self.log_dir / (name + '.log')}",
                          file=sys.stderr, flush=True)
                    return 1
        return 0

    def stop(self) -> None:
        self._stopping.set()
        for child in reversed(list(self.children.values())):
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + 8
        for child in self.children.values():
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if self.fake_redis is not None:
            self.fake_redis.shutdown()
        self.state_file.unlink(missing_ok=True)
        if self.chalice_local_env is not None:  # its endpoints are gone, and it holds the dev key: no stale copy
            self.chalice_local_env.unlink(missing_ok=True)


# What `chalice local` needs from the environment beside `make deps`, besides the settings that differ
# from their defaults: where AWS and Redis are, and credentials for the emulator.
CHALICE_LOCAL_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_DYNAMODB",
                           "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")

CHALICE_LOCAL_ENV_HEADER = """\
# Written by `make deps` for `chalice local --stage local` (localdev/chalice_local.py reads it; python-dotenv
# syntax, not a shell script). It holds the dev API key and the simulators' secrets: mode 0600, git-ignored,
# removed when `make deps` stops.
"""


def chalice_local_environment(stack: LocalStack) -> dict[str, str]:
    """The variables `chalice local` needs to serve the API against the stack `make deps` started."""
    defaults = env_defaults()
    variables = {name: stack.env[name] for name in CHALICE_LOCAL_VARIABLES if stack.env.get(name)}
    for name in ENV_NAMES:
        value = stack.env.get(name)
        if name not in ("STAGE", "PORT") and value and value != defaults[name]:
            variables[name] = value
    if "SMS_PROVIDERS" in variables:
        configured = get_settings({"STAGE": LOCAL_STAGE, "SMS_PROVIDERS": variables["SMS_PROVIDERS"]}).providers
        if configured == get_settings({"STAGE": LOCAL_STAGE}).providers:
            del variables["SMS_PROVIDERS"]  # the local stage's default: shorter to leave out
    return variables


def chalice_local_env_file(env: dict[str, str]) -> Path:
    return ROOT / StackSettings.from_env(env).chalice_local_env_file


def dotenv_line(name: str, value: str) -> str:
    """NAME='value' as python-dotenv reads it back: in single quotes only \\ and \' are escapes."""
    return f"{name}='" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def write_chalice_local_env(stack: LocalStack) -> Path:
    """The environment of `chalice local` into CHALICE_LOCAL_ENV_FILE (.env.local), readable by its owner only."""
    path = chalice_local_env_file(stack.env)
    lines = [dotenv_line(name, value) for name, value in chalice_local_environment(stack).items()]
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an older file keeps its mode through O_CREAT: set it
    with os.fdopen(descriptor, "w") as out:
        out.write(CHALICE_LOCAL_ENV_HEADER + "\n".join(lines) + "\n")
    return path


def chalice_local_command(port: int = 8000) -> str:
    """The short line that serves the API with `chalice local` against the stack `make deps` started: the
    variables come from CHALICE_LOCAL_ENV_FILE, which the local stage reads (localdev/chalice_local.py)."""
    import shlex

    chalice = Path(PYTHON).parent / "chalice"
    shown = shlex.quote(str(chalice.relative_to(ROOT))) if chalice.is_relative_to(ROOT) else shlex.quote(str(chalice))
    return f"{shown} local --stage {LOCAL_STAGE} --port {port}"


def try_it_lines(api_url: str, key: str) -> list[str]:
    """Copyable commands: printed outside the banner's box, which would wrap them at the terminal's width."""
    import shlex

    body = '{"phone": "+14155550100", "text": "hello"}'
    return [f"export KEY={shlex.quote(key)}",
            f"curl -s -X POST {api_url}/api/sms -H \"X-Api-Key: $KEY\" -H 'Content-Type: application/json' "
            f"-d '{body}'"]


def print_banner(stack: LocalStack) -> None:
    from rich.console import Console
    from rich.panel import Panel

    lines = "\n".join(stack.started)
    key = stack.env["API_KEYS"].split(",")[0]
    if stack.api_url is None:
        Console().print(Panel(
            f"{lines}\n\n[bold]Dev API key[/bold]  {key}\n"
            f"Ready in {stack.ready_after_s:.1f} s. Logs in {stack.log_dir}. Ctrl-C stops everything.\n"
            f"chalice local's environment is in {chalice_local_env_file(stack.env)} (mode 0600).\n\n"
            f"[bold]Now serve the API[/bold] with the line below, in another terminal in {ROOT} "
            "(it reloads when app.py, chalicelib/ or .chalice/config.json change):",
            title="SMS gateway: everything but the API, for chalice local", expand=False))
        print(chalice_local_command(int(stack.env.get("PORT") or 8000)), flush=True)  # unwrapped: copyable
        return
    Console().print(Panel(
        f"{lines}\n\n[bold]Dev API key[/bold]  {key}  (also in {stack.state_file}, as api_key)\n"
        f"Ready in {stack.ready_after_s:.1f} s. Logs in {stack.log_dir}. Ctrl-C stops everything.\n\n"
        "[bold]Try it[/bold] with the lines below, in another terminal:",
        title="SMS gateway: local stack", expand=False))
    print("\n".join(try_it_lines(stack.api_url, key)), flush=True)  # unwrapped: copyable


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-api", action="store_true", help="start everything but the HTTP API (make deps)")
    args = parser.parse_args(argv)
    load_dotenv_file()
    stack = LocalStack()
    stopping = threading.Event()

    def on_signal(signum, _frame):
        stopping.set()
        stack._stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        stack.start(api=not args.no_api)
        print_banner(stack)
        code = stack.supervise()
    except RuntimeError as exc:
        print(f"local stack failed to start: {exc}", file=sys.stderr)
        code = 1
    finally:
        print("stopping the local stack ...", flush=True)
        stack.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
