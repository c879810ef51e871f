"""End-to-end scenarios on the full local stack, and the figures each one yields.

A scenario is an open-loop load plus a timeline of simulator switches (POST /_config), then a drain
(until the dispatch queue is empty, or a bounded time) and the measurements:

  at the providers   arrivals and sent messages from each simulator's own log (/_arrivals, /_sent)
  at the API         every request's status and latency, from the load generator
  end to end         accept-to-sent (the simulator's arrival of the accepted send, matched on `reference`),
                     lost (final status in DynamoDB not terminal), duplicates (a reference sent twice)
  cost               AWS calls (counting proxy), Redis commands (INFO commandstats), CPU per process (/proc)
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import boto3
import botocore.exceptions
import redis

from bench import stats
from bench.bench_stack import BenchStack
from bench.loadgen import OpenLoopLoad, Sample
from bench.measure import commands_between, cpu_snapshot, cpu_spent, machine, redis_commandstats

NAMES = ("alpha", "beta", "gamma")


@dataclass(frozen=True)
class Switch:
    at_s: float  # seconds after the load starts
    providers: tuple[str, ...]
    config: dict  # the body of POST /_config


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    seconds: float
    switches: tuple[Switch, ...] = ()
    weights: str = "1,1,1"
    capacity_share: float = 1.0  # the part of the providers' combined limit that can deliver after the switches
    down: tuple[str, ...] = ()  # providers whose time-to-no-traffic is measured from the first switch
    drain_s: float = 60.0  # at most this long for the queue to empty after the load; then it is purged
    offered_rps: float | None = None  # None: the profile's
    aws_slowdown: float = 1.0  # every AWS call takes this many times as long (the counting proxy delays it)


@dataclass(frozen=True)
class Profile:
    name: str
    rate_limit: int
    offered_rps: float
    scenarios: tuple[Scenario, ...]
    env: dict = field(default_factory=dict)
    routing_path_seconds: float = 8.0
    routing_path_strategies: tuple[str, ...] | None = None  # None: every strategy
    hot_path_messages: int = 150


def _all_scenarios(seconds: float, short: float, all_down_s: float, start_s: float, drain_s: float,
                   carried_rps: float) -> dict[str, Scenario]:
    down_fail = {"mode": "fail"}
    return {
        "healthy": Scenario("healthy", "all providers healthy", seconds, drain_s=drain_s),
        "carried": Scenario("carried", f"all healthy at {carried_rps:g} RPS, a load this machine carries end to end",
                            short, drain_s=max(drain_s, 45.0), offered_rps=carried_rps),
        "down": Scenario("down", "beta hard down (every send answers 500)", short,
                         (Switch(start_s, ("beta",), down_fail),), capacity_share=2 / 3, down=("beta",),
                         drain_s=drain_s),
        "flaky": Scenario("flaky", "beta flaky: 50% of sends answer 500/503", short,
                          (Switch(start_s, ("beta",), {"mode": "flaky", "failure_rate": 0.5}),),
                          capacity_share=5 / 6, drain_s=drain_s),
        "slow": Scenario("slow", "beta slow: answers after 3 s, past its 1 s timeout", short,
                         (Switch(start_s, ("beta",), {"mode": "slow", "slow_ms": 3000}),),
                         capacity_share=2 / 3, down=("beta",), drain_s=drain_s),
        "all_down": Scenario("all_down", f"all providers down for {all_down_s:g} s, then back",
                             start_s + all_down_s + 10,
                             (Switch(start_s, NAMES, down_fail), Switch(start_s + all_down_s, NAMES, {"mode": "ok"})),
                             down=NAMES, drain_s=drain_s + 15),
        "aws_slow": Scenario("aws_slow", "all healthy, the AWS emulator 3x slower", seconds, drain_s=drain_s,
                             aws_slowdown=3.0),
        # Below capacity: when every provider is saturated each delivers its limit and weights cannot show.
        "weights": Scenario("weights", f"weights 5/3/2, all healthy, {carried_rps * 1.5:g} RPS (below capacity)",
                            short, weights="5,3,2", drain_s=drain_s, offered_rps=carried_rps * 1.5),
    }


# The health rule shortened so that trips and recoveries fit in a run: values reported with the results.
HEALTH_ENV = {"HEALTH_WINDOW_S": "30", "HEALTH_MIN_SAMPLES": "5", "UNHEALTHY_FOR_S": "10", "HEALTH_FAILURE_RATE": "0.7",
              "HEALTH_FAILURE_STREAK": "15"}
# Dispatcher concurrency sized to capacity (docs/benchmarks.md): in flight = processes x invocations x 10
# records; saturating needs in flight >= 10 + capacity x per-message overhead (claim, send, records: 0.15 s
# on a quiet machine, over a second on a loaded one), and a booked send waits about (in flight - 10) /
# capacity - overhead, which must stay within SLOT_WAIT_MAX_MS (2 s). 2 x 3 x 10 at 3 x 10/s: ~1.5 s ahead
# on a quiet machine; 2 x 4 x 10 at 3 x 50/s: ~0.3 s.
COMMON_ENV = {"SIM_TIMEOUT_S": "1", "SIM_LATENCY_MS": "20", "DISPATCHER_PROCESSES": "2", "DISPATCH_CONCURRENCY": "4",
              "SCHEDULE_INTERVAL_S": "60", **HEALTH_ENV}
SCALED_ENV = {**COMMON_ENV, "SIM_RATE_LIMIT": "10", "DISPATCH_CONCURRENCY": "3"}


def profiles() -> dict[str, Profile]:
    full = _all_scenarios(seconds=60, short=20, all_down_s=30, start_s=5, drain_s=25, carried_rps=10)
    quick = _all_scenarios(seconds=10, short=8, all_down_s=6, start_s=2, drain_s=5, carried_rps=10)
    seed = _all_scenarios(seconds=20, short=20, all_down_s=10, start_s=4, drain_s=25, carried_rps=50)
    return {
        "scaled": Profile("scaled", 10, 40, tuple(full.values()), SCALED_ENV, 5.0),
        "seed": Profile("seed", 50, 200, (seed["healthy"], seed["down"], seed["carried"]),
                        {**COMMON_ENV, "SIM_RATE_LIMIT": "50"}, 5.0),
        "quick": Profile("quick", 10, 40, (quick["healthy"], quick["carried"], quick["down"]), SCALED_ENV,
                         2.0, ("router", "limits"), hot_path_messages=0),
    }


# ------------------------------------------------------------------ talking to the stack


def _http_json(url: str, body: dict | None = None, timeout_s: float = 15) -> object:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",  # noqa: S310
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (local simulators only)
        return json.loads(response.read())


class StackProbe:
    """The benchmark's side channels into the stack: simulators, the emulator (uncounted), Redis."""

    def __init__(self, stack: BenchStack):
        self.stack = stack
        aws = {"region_name": "us-east-1", "endpoint_url": stack.moto_url, "aws_access_key_id": "testing",
               "aws_secret_access_key": "testing"}
        self.sqs = boto3.client("sqs", **aws)
        self.dynamodb = boto3.client("dynamodb", **aws)
        queue_name = stack.env.get("DISPATCH_QUEUE_NAME", "sms-dispatch")
        self.queue_url = self.sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        self.redis = redis.Redis.from_url(stack.redis_url)

    def configure(self, provider: str, config: dict) -> None:
        _http_json(f"{self.stack.simulator_base(provider)}/_config", config)

    def reset_simulators(self, rate_limit: int) -> None:
        for name in NAMES:
            _http_json(f"{self.stack.simulator_base(name)}/_reset", {})
            self.configure(name, {"mode": "ok", "failure_rate": 0.0, "rate_limit": rate_limit})

    def reset_routing_state(self) -> None:
        prefix = self.stack.env["REDIS_KEY_PREFIX"]
        keys = list(self.redis.scan_iter(match=f"{{{prefix}}}:*", count=1000))
        if keys:
            self.redis.delete(*keys)

    def arrivals(self, name: str) -> list[dict]:
        return _http_json(f"{self.stack.simulator_base(name)}/_arrivals")

    def sent(self, name: str) -> list[dict]:
        return _http_json(f"{self.stack.simulator_base(name)}/_sent")

    def sent_counts(self) -> int:
        return sum(_http_json(f"{self.stack.simulator_base(n)}/_stats")["sent"] for n in NAMES)

    def empty_queue(self, max_s: float = 10.0) -> None:
        """PurgeQueue (once a minute at most, as on AWS), else receive-and-delete what is visible, bounded."""
        try:
            self.sqs.purge_queue(QueueUrl=self.queue_url)
            return
        except self.sqs.exceptions.PurgeQueueInProgress:
            pass
        deadline = time.monotonic() + max_s
        while time.monotonic() < deadline:
            messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                                WaitTimeSeconds=0, VisibilityTimeout=300).get("Messages", [])
            if not messages:
                return
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])

    def warm_up(self, timeout_s: float = 60) -> None:
        """One SMS end to end before the first scenario: the API and the dispatchers finish starting (their
        clients built, their first connections open) before anything is measured."""
        request = urllib.request.Request(  # noqa: S310 (the local API)
            f"{self.stack.state['api_url']}/api/sms", method="POST",
            data=json.dumps({"phone": "+14155550100", "text": "warm-up"}).encode(),
            headers={"Content-Type": "application/json", "X-Api-Key": self.stack.state["api_key"]})
        with urllib.request.urlopen(request, timeout=15):  # noqa: S310
            pass
        deadline = time.monotonic() + timeout_s
        while self.sent_counts() < 1 and time.monotonic() < deadline:
            time.sleep(0.2)

    def unhealthy_until(self, provider: str) -> int | None:
        """The end of the provider's cooldown (epoch ms) while the router has it down, else None."""
        prefix = self.stack.env["REDIS_KEY_PREFIX"]
        value = self.redis.get(f"{{{prefix}}}:down:{provider}")
        return int(value) if value is not None else None

    def queue_depth(self) -> int:
        for attempt in range(3):  # the emulator, busy, may answer one call with a 500: a reading, not the run
            try:
                attributes = self.sqs.get_queue_attributes(
                    QueueUrl=self.queue_url,
                    AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                    "ApproximateNumberOfMessagesDelayed"])["Attributes"]
                return sum(int(v) for v in attributes.values())
            except botocore.exceptions.ClientError:
                if attempt == 2:
                    raise
                time.sleep(0.5)
        raise AssertionError("unreachable")

    def final_statuses(self, ids: set[str]) -> dict[str, str]:
        """The status of every request in the table (one paginated Scan against moto, not counted)."""
        table = self.stack.env.get("REQUESTS_TABLE", "sms_requests")
        found: dict[str, str] = {}
        paginator = self.dynamodb.get_paginator("scan")
        for page in paginator.paginate(TableName=table, ProjectionExpression="id, #s",
                                       ExpressionAttributeNames={"#s": "status"}):
            for item in page["Items"]:
                rid = item["id"]["S"]
                if rid in ids:
                    found[rid] = item.get("status", {}).get("S")
        return found


# ------------------------------------------------------------------ running one scenario


@dataclass
class Progress:
    """What the runner tells the display: a phase name, how far it is, and a line of live counters."""

    update: Callable[[str, float, float, str], None] = lambda phase, done, total, info: None


def _measured_pids(stack: BenchStack) -> dict[str, int]:
    return {**stack.pids(), "bench (load generator)": os.getpid()}


def run_scenario(stack: BenchStack, probe: StackProbe, profile: Profile, scenario: Scenario,
                 progress: Progress) -> dict:
    probe.reset_simulators(profile.rate_limit)
    probe.reset_routing_state()
    stack.slow_aws(scenario.aws_slowdown)
    stack.aws_counts(reset=True)
    commands_before = redis_commandstats(probe.redis)
    cpu_before = cpu_snapshot(_measured_pids(stack))
    load_before = machine()

    counters: Counter[str] = Counter()

    def on_sample(sample: Sample) -> None:
        counters[str(sample.status or "error")] += 1

    offered_rps = scenario.offered_rps or profile.offered_rps
    load = OpenLoopLoad(stack.state["api_url"], stack.state["api_key"], rate=offered_rps,
                        seconds=scenario.seconds, on_sample=on_sample, timeout_s=5.0)
    stop = threading.Event()
    holder: dict = {}
    runner = threading.Thread(target=lambda: holder.update(result=load.run(stop)), daemon=True)
    began = time.time()
    runner.start()
    switch_times: list[tuple[float, Switch]] = []
    pending = list(scenario.switches)
    deadline = time.monotonic() + scenario.seconds + 30
    tripped_until: dict[str, int] = {}  # the first cooldown of each provider that goes down: its end (epoch ms)
    while runner.is_alive() and time.monotonic() < deadline:
        elapsed = time.time() - began
        for name in scenario.down:
            if name not in tripped_until and (until := probe.unhealthy_until(name)) is not None:
                tripped_until[name] = until
        while pending and elapsed >= pending[0].at_s:
            switch = pending.pop(0)
            for name in switch.providers:
                probe.configure(name, switch.config)
            switch_times.append((time.time(), switch))
        answers = " ".join(f"{k}:{v}" for k, v in sorted(counters.items()))
        progress.update(f"{profile.name}/{scenario.name}: load", min(elapsed, scenario.seconds), scenario.seconds,
                        f"{offered_rps:g} rps offered · {answers}")
        runner.join(0.05 if pending else 0.5)
    stop.set()
    runner.join(15)
    result = holder["result"]
    load_ended = time.time()

    # Drain: the queue empty (visible, in flight and delayed) twice in a row, or the drain bound.
    drain_started = time.monotonic()
    empty_polls = 0
    while time.monotonic() - drain_started < scenario.drain_s and empty_polls < 2:
        depth = probe.queue_depth()
        empty_polls = empty_polls + 1 if depth == 0 else 0
        progress.update(f"{profile.name}/{scenario.name}: drain", time.monotonic() - drain_started, scenario.drain_s,
                        f"queue {depth} · sent {probe.sent_counts()}")
        time.sleep(1.0)
    drained_after_s = time.monotonic() - drain_started
    drain_complete = empty_polls >= 2
    if not drain_complete:
        # Left over for the next scenario, the backlog would be its traffic and its cost: drop it, after
        # the statuses below have recorded these requests as unfinished.
        probe.empty_queue()
    if scenario.switches:  # let the providers answer again before the next scenario's reset
        for name in NAMES:
            probe.configure(name, {"mode": "ok"})
    stack.slow_aws(1.0)

    cpu_after = cpu_snapshot(_measured_pids(stack))
    commands = commands_between(commands_before, redis_commandstats(probe.redis))
    aws = stack.aws_counts()
    arrivals = {name: probe.arrivals(name) for name in NAMES}
    sent = {name: probe.sent(name) for name in NAMES}
    accepted_ids = {s.request_id for s in result.samples if s.status == 202 and s.request_id}
    statuses = probe.final_statuses(accepted_ids)
    cooldown_ms = int(stack.env.get("UNHEALTHY_FOR_S", "300")) * 1000
    raw = {"samples": result.samples, "arrivals": arrivals, "sent": sent, "statuses": statuses,
           "switches": switch_times, "began": result.started, "load_ended": load_ended,
           "tripped_at": {name: (until - cooldown_ms) / 1000 for name, until in tripped_until.items()},
           "cooldown_s": cooldown_ms / 1000}
    figures = analyse(profile, scenario, raw, drained_after_s=drained_after_s, drain_complete=drain_complete)
    figures["cost"] = cost_figures(aws, commands, figures["delivered"], figures["api"]["accepted"])
    figures["cpu"] = cpu_figures(cpu_spent(cpu_before, cpu_after), figures["api"]["accepted"], figures["delivered"])
    figures["machine"] = {"before": load_before, "after": machine()}
    figures["behind_max_ms"] = round(result.behind_max_ms, 1)
    figures["series"] = series(raw, profile)
    return figures


# ------------------------------------------------------------------ figures


def analyse(profile: Profile, scenario: Scenario, raw: dict, drained_after_s: float,
            drain_complete: bool = True) -> dict:
    samples: list[Sample] = raw["samples"]
    began = raw["began"]
    accepted = [s for s in samples if s.status == 202 and s.request_id]
    accept_time = {s.request_id: s.done for s in accepted}
    status_counts = Counter(str(s.status or s.error) for s in samples)
    latencies = [s.latency_ms for s in accepted]
    from_due = [s.latency_from_due_ms for s in accepted]
    duration = scenario.seconds

    providers = {}
    all_sent = []
    weights = [int(w) for w in scenario.weights.split(",")]
    for name in NAMES:
        times = [a["t"] for a in raw["arrivals"][name]]
        by_status = Counter(str(a["status"]) for a in raw["arrivals"][name])
        sent_here = [m for m in raw["sent"][name] if m.get("reference") in accept_time]
        all_sent.extend(sent_here)
        providers[name] = {
            "arrivals": len(times),
            "by_status": dict(sorted(by_status.items())),
            "sent": len(sent_here),
            "max_in_any_1s": stats.max_in_any_window(times) if times else 0,
            "limit": profile.rate_limit,
        }
    delivered = len({m["reference"] for m in all_sent})
    for name, weight in zip(NAMES, weights, strict=True):
        providers[name]["share"] = round(providers[name]["sent"] / delivered, 4) if delivered else None
        providers[name]["expected_share"] = round(weight / sum(weights), 4) if not scenario.switches else None

    first_sent: dict[str, float] = {}
    for message in all_sent:
        ref = message["reference"]
        first_sent[ref] = min(first_sent.get(ref, message["t"]), message["t"])
    accept_to_sent = [(first_sent[rid] - accept_time[rid]) * 1000 for rid in first_sent]
    capacity = profile.rate_limit * len(NAMES) * scenario.capacity_share
    end = max([began + duration, *first_sent.values()])
    saturated = stats.backlog_saturated_rate(sorted(accept_time.values()), sorted(first_sent.values()), capacity,
                                             began, end)
    final = Counter(raw["statuses"].get(rid, "missing") for rid in accept_time)
    lost_ids = stats.lost(accept_time, raw["statuses"])
    duplicate_refs = stats.duplicates(m.get("reference") for name in NAMES for m in raw["sent"][name])

    health = {}
    if scenario.down and raw["switches"]:
        down_at = raw["switches"][0][0]
        for name in scenario.down:
            times = [a["t"] for a in raw["arrivals"][name]]
            health[name] = stats.cutoff_after(times, down_at, quiet_s=1.0 if profile.rate_limit >= 10 else 2.0)
            tripped_at = raw.get("tripped_at", {}).get(name)
            # Sends the router decided after the trip reach the provider more than a second after it (the ones
            # before are in flight); after the cooldown they are probes of a provider eligible again.
            health[name]["tripped_after_s"] = round(tripped_at - down_at, 2) if tripped_at else None
            health[name]["arrivals_over_1s_after_trip"] = sum(
                1 for t in times if tripped_at and tripped_at + 1 < t < tripped_at + raw["cooldown_s"]
            ) if tripped_at else None

    return {
        "scenario": scenario.name,
        "title": scenario.title,
        "seconds": duration,
        "offered_rps": scenario.offered_rps or profile.offered_rps,
        "switches": [{"at_s": round(t - began, 2), "providers": list(s.providers), "config": s.config}
                     for t, s in raw["switches"]],
        "api": {
            "offered": len(samples),
            "accepted": len(accepted),
            "accepted_rps": round(len(accepted) / duration, 2),
            "statuses": dict(sorted(status_counts.items())),
            "latency_ms": stats.summarize(latencies),
            "latency_from_due_ms": stats.summarize(from_due),
        },
        "providers": providers,
        "delivered": delivered,
        "saturated": saturated,
        "accept_to_sent_ms": stats.summarize(accept_to_sent, digits=0),
        "final_statuses": dict(sorted(final.items())),
        # Not terminal once the queue is empty: lost. Not terminal when the drain bound ran out first: still
        # queued or waiting, so undetermined (None), and counted as unfinished.
        "lost": len(lost_ids) if drain_complete else None,
        "unfinished": len(lost_ids),
        "lost_sample": lost_ids[:10],
        "drain_complete": drain_complete,
        "duplicates": len(duplicate_refs),
        "duplicate_sample": dict(list(duplicate_refs.items())[:10]),
        "health": health,
        "drained_after_s": round(drained_after_s, 1),
    }


DYNAMODB_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
DYNAMODB_READS = ("GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems")


def cost_figures(aws: dict, redis_commands: dict[str, int], delivered: int, accepted: int) -> dict:
    calls = aws.get("calls", {})
    items = aws.get("items", {})
    dynamo_items = items.get("dynamodb", {})
    sqs_calls = calls.get("sqs", {})
    writes = sum(dynamo_items.get(op, 0) for op in DYNAMODB_WRITES)
    # Transactions bill 2 WRU per item; every item here is well under 1 KB (1 WRU per plain write).
    wru = writes + dynamo_items.get("TransactWriteItems", 0)
    reads = sum(dynamo_items.get(op, 0) for op in DYNAMODB_READS)
    sqs_requests = sum(sqs_calls.values())
    per = (lambda n: round(n / delivered, 3)) if delivered else (lambda n: None)
    return {
        "aws_calls": calls,
        "aws_errors": aws.get("errors", {}),
        "dynamodb_writes": writes,
        "dynamodb_reads": reads,
        "sqs_requests": sqs_requests,
        "sqs_empty_receives": sqs_calls.get("ReceiveMessage", 0) - aws.get("nonempty_receives", 0),
        "dispatcher_invocations": aws.get("nonempty_receives", 0),
        "per_delivered": {
            "dynamodb_writes": per(writes),
            "dynamodb_wru": per(wru),
            "dynamodb_reads": per(reads),
            "sqs_requests": per(sqs_requests),
            "sqs_requests_without_empty_receives": per(
                sqs_requests - (sqs_calls.get("ReceiveMessage", 0) - aws.get("nonempty_receives", 0))),
            "sqs_send_message": per(sqs_calls.get("SendMessage", 0)),
            "redis_commands": per(sum(redis_commands.values())),
            "redis_script_calls": per(sum(n for cmd, n in redis_commands.items() if cmd in ("evalsha", "eval"))),
            "by_operation": {f"{service}.{op}": per(n)
                             for service, ops in calls.items() for op, n in sorted(ops.items())},
        },
        "redis_commands": redis_commands,
        "accepted": accepted,
        "delivered": delivered,
    }


def cpu_figures(spent: dict[str, float | None], accepted: int, delivered: int) -> dict:
    dispatchers = sum(v or 0 for k, v in spent.items() if k.startswith("dispatcher"))
    per_message = {}
    for role, ms in spent.items():
        denominator = accepted if role == "api" else delivered
        per_message[role] = round(ms / denominator, 3) if ms is not None and denominator else None
    per_message["dispatchers (all)"] = round(dispatchers / delivered, 3) if delivered else None
    return {"cpu_ms": {k: (round(v, 1) if v is not None else None) for k, v in spent.items()},
            "dispatchers_cpu_ms": round(dispatchers, 1), "per_message_ms": per_message,
            "note": "api per accepted request; every other process per delivered message"}


def series(raw: dict, profile: Profile) -> dict:
    """Compact time series for the plots (seconds from the load's start)."""
    began = raw["began"]
    samples: list[Sample] = raw["samples"]
    trailing = {}
    for name in NAMES:
        points = stats.trailing_window_counts(a["t"] for a in raw["arrivals"][name])
        trailing[name] = [(round(t - began, 3), n) for t, n in points]
    end = max([raw["load_ended"], *(m["t"] for name in NAMES for m in raw["sent"][name])]) - began
    by_status: defaultdict[str, list[float]] = defaultdict(list)
    for s in samples:
        by_status[str(s.status or s.error)].append(s.done or s.sent)
    statuses = {k: stats.per_second(v, began, began + end) for k, v in by_status.items()}
    sent_times = [m["t"] for name in NAMES for m in raw["sent"][name]]
    return {
        "trailing_1s": trailing,
        "api_status_per_s": statuses,
        "sent_per_s": stats.per_second(sent_times, began, began + end),
        "latency_ms": [round(s.latency_ms, 2) for s in samples if s.status == 202],
        "switches": [round(t - began, 2) for t, _ in raw["switches"]],
        "limit": profile.rate_limit,
    }
