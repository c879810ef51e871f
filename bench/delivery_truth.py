"""Delivery receipts and status callbacks (issue 13) on the real local stack: what they cost and how fast they go.

    python -m bench.delivery_truth                          # make bench-delivery: 300 requests at 20 RPS, ~2 min
    python -m bench.delivery_truth --requests 600 --rps 40 --out /tmp/bench
    python -m bench.delivery_truth --receipt-delay-s 1 --receipt-jitter-s 1   # receipts as the stack sends them

One stack (bench/bench_stack.py: moto behind the counting AWS proxy, its own redis-server, the four vendor
simulators twilio, vonage, aws and http-json) and two phases of the same open-loop load:

  dispatch    a client without callbacks; the simulators hold their receipts back (an hour): the dispatch path
              alone, up to `sent`
  truth       a client whose default callback URL is a callback receiver started here; the simulators send
              each receipt as soon as the send is accepted (by default: SIM_RECEIPT_DELAY_S=0, no jitter; see
              --receipt-delay-s), 10% undelivered; every request goes sent -> delivered | undelivered and calls
              back twice (sent, then final). With no delay a receipt often beats the dispatcher's `sent` write:
              the gateway answers 409 "too early" and the vendor sends it again a second later, which the
              figures include (receipts.sent_more_than_once)

Figures:
  receipt ingestion    "delivery recorded" lines in the stack's logs (webhooks: api.log; aws events:
                       delivery-events.log): receipts applied per second from the first to the last, and the
                       busiest second. The simulators send receipts as the sends are accepted, so this is the rate
                       offered to the handlers (the dispatch rate), not their ceiling: the CPU figures below bound it.
  callback latency     the receiver's arrival time of each event minus the event's occurred_at (the status change as
                       the callback states it; Vonage's receipt timestamps are whole seconds, so its figure carries
                       up to 1 s of truncation), and minus the gateway's own "delivery recorded" log time (its write)
  extra AWS calls      per message, truth minus dispatch, from the counting proxy (bench/aws_proxy.py), with the
                       same helper as the main benchmark (bench.scenarios.cost_figures); the aws simulator's own
                       GetQueueUrl + SendMessage per receipt (the vendor putting its event on the queue, which SNS does
                       on AWS) counted apart

Writes <out>/<UTC timestamp>-delivery.json and latest-delivery.json (git commit included).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench import stats
from bench.run import RESULTS, _git_commit
from bench.scenarios import COMMON_ENV, cost_figures
from bench.stats import max_in_any_window
from chalicelib.lifecycle import DELIVERY_RESULTS, Status

FINAL = DELIVERY_RESULTS
VENDOR_KINDS = "twilio,vonage,aws,http-json"
HOLD_RECEIPTS_S = 3600  # the dispatch phase: receipts scheduled an hour out never leave during the run


# ------------------------------------------------------------- pure helpers (tests/tooling/unit/test_bench_delivery.py)


def parse_iso(value: str) -> float:
    """Epoch seconds of an ISO-8601 time ("...Z" or "+00:00"; a naive one is UTC)."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def log_records(lines: Iterable[str], message: str) -> list[dict]:
    """The JSON log records whose "message" is ``message``, each with its "t" (epoch s of its timestamp)."""
    found = []
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("message") == message and record.get("timestamp"):
            found.append({**record, "t": parse_iso(record["timestamp"])})
    return found


def rate(timestamps: Sequence[float]) -> dict[str, float | int | None]:
    """How fast events came: count, first-to-last span, (count - 1) / span (intervals per second: n events
    spread evenly over s seconds are (n - 1) / s per second), and the most in any 1-second window."""
    ordered = sorted(timestamps)
    if not ordered:
        return {"count": 0, "span_s": None, "per_s": None, "max_in_any_1s": 0}
    span = ordered[-1] - ordered[0]
    return {"count": len(ordered), "span_s": round(span, 3),
            "per_s": round((len(ordered) - 1) / span, 2) if span > 0 else None,
            "max_in_any_1s": max_in_any_window(ordered)}


def callback_latencies_ms(events: Mapping[str, dict], received_at: Mapping[str, float], *,
                          statuses: Iterable[str], ids: set[str] | None = None,
                          changed_at: Mapping[str, float] | None = None) -> list[float]:
    """ms from each status change to the receiver's arrival of its callback, for events of the given statuses
    (and requests, when ``ids``): from ``changed_at[request id]`` when given (the gateway's own write time),
    else from the event's ``occurred_at``. Events without an arrival time or a change time are left out."""
    wanted = set(statuses)
    out = []
    for event_id, payload in events.items():
        if payload.get("status") not in wanted or (ids is not None and payload.get("id") not in ids):
            continue
        arrived = received_at.get(event_id)
        if changed_at is not None:
            start = changed_at.get(payload.get("id"))
        else:
            start = parse_iso(payload["occurred_at"]) if payload.get("occurred_at") else None
        if arrived is None or start is None:
            continue
        out.append((arrived - start) * 1000)
    return out


def extra_per_message(base: Mapping[str, float | None],
                      measured: Mapping[str, float | None]) -> dict[str, float | None]:
    """measured - base for every key of either (a key missing from one counts 0 there; None stays None)."""
    out: dict[str, float | None] = {}
    for key in sorted(set(base) | set(measured)):
        a, b = base.get(key, 0), measured.get(key, 0)
        out[key] = None if a is None or b is None else round(b - a, 3)
    return out


def without_vendor_calls(aws: dict, receipts_on_queue: int) -> dict:
    """The proxy's counts less the aws simulator's GetQueueUrl + SendMessage for each receipt it queued (the
    vendor's side: on AWS, SNS puts the event on the queue). The rest is what the gateway itself called."""
    calls = {service: dict(ops) for service, ops in aws.get("calls", {}).items()}
    items = {service: dict(ops) for service, ops in aws.get("items", {}).items()}
    for table in (calls, items):
        sqs = table.setdefault("sqs", {})
        for op in ("GetQueueUrl", "SendMessage"):
            if op in sqs:
                sqs[op] = max(0, sqs[op] - receipts_on_queue)
    return {**aws, "calls": calls, "items": items}


# ------------------------------------------------------------------ the stack


def _http_json(url: str, body: dict | None = None, timeout_s: float = 15) -> object:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",  # noqa: S310
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (local only)
        return json.loads(response.read())


def _clients_document(dispatch_key: str, truth_key: str, receiver_url: str, secret: str) -> str:
    from chalicelib.clients import key_hash

    return json.dumps({"clients": {
        "bench-dispatch": {"key_hashes": [key_hash(dispatch_key)], "roles": ["send", "operator"]},
        "bench-truth": {"key_hashes": [key_hash(truth_key)], "roles": ["send", "operator"],
                        "callback_secret": secret, "callback_url": f"{receiver_url}/sms-status"}}})


class Receiver:
    """localdev.callback_receiver in a process of its own (its arrival times are not the load generator's)."""

    def __init__(self, workdir: Path):
        from localdev.stack import free_port, http_ok, wait_until

        self.secret = secrets.token_urlsafe(32)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(workdir / "callback-receiver.log", "ab")  # noqa: SIM115 (the child writes it)
        self.process = subprocess.Popen([sys.executable, "-m", "localdev.callback_receiver", "--port", str(port)],
                                        env={**os.environ, "CALLBACK_RECEIVER_SECRET": self.secret},
                                        stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: http_ok(f"{self.url}/_stats"), 15, "callback receiver")

    def stats(self) -> dict:
        return _http_json(f"{self.url}/_stats", timeout_s=30)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def _statuses(probe, ids: set[str]) -> dict[str, str]:
    return probe.final_statuses(ids)


def _run_phase(stack, probe, receiver: Receiver | None, *, name: str, api_key: str, requests: int, rps: float,
               done_when: tuple[str, ...], wait_s: float, say) -> dict:
    from bench.loadgen import OpenLoopLoad
    from bench.measure import commands_between, cpu_snapshot, cpu_spent, machine, redis_commandstats

    pids = {**stack.state["pids"],
            **{f"dispatcher-{i}": p for i, p in enumerate(stack.state["dispatcher_pids"])},
            "aws emulator (moto)": stack.children["moto"].pid,
            "aws proxy (bench only)": stack.children["aws_proxy"].pid}
    if receiver is not None:
        pids["callback receiver (client side)"] = receiver.process.pid
    stack.aws_counts(reset=True)
    commands_before = redis_commandstats(probe.redis)
    cpu_before = cpu_snapshot(pids)
    load_before = machine()
    say(f"{name}: {requests} requests at {rps:g} RPS")
    load = OpenLoopLoad(stack.state["api_url"], api_key, rate=rps, seconds=requests / rps, mix={"plain": 1},
                        timeout_s=10.0)
    result = load.run(threading.Event())
    accepted = {s.request_id: s.done for s in result.samples if s.status == 202 and s.request_id}
    answers = Counter(str(s.status or s.error) for s in result.samples)
    # Until every accepted request has reached the phase's end state (and, with callbacks, its final callback).
    deadline = time.monotonic() + wait_s
    statuses: dict[str, str] = {}
    callbacks_done = receiver is None
    while time.monotonic() < deadline:
        statuses = _statuses(probe, set(accepted))
        reached = sum(1 for rid in accepted if statuses.get(rid) in done_when)
        called = 0
        if receiver is not None:
            seen = receiver.stats()
            called = sum(1 for p in seen["events"].values() if p["id"] in accepted and p["status"] in done_when)
            callbacks_done = called >= reached
        say(f"{name}: {reached}/{len(accepted)} {'/'.join(done_when)}"
            + (f", {called} final callbacks" if receiver is not None else ""))
        if reached == len(accepted) and callbacks_done:
            break
        time.sleep(2)
    waited_out = time.monotonic() >= deadline
    if receiver is not None:  # the callbacks of the last ones' move to sent, which go out beside their final ones
        time.sleep(2)
    aws = stack.aws_counts()
    commands = commands_between(commands_before, redis_commandstats(probe.redis))
    cpu = cpu_spent(cpu_before, cpu_snapshot(pids))
    finished = sum(1 for rid in accepted if statuses.get(rid) in done_when)
    return {"name": name, "requests": requests, "rps": rps, "answers": dict(sorted(answers.items())),
            "accepted": len(accepted), "accepted_at": accepted, "finished": finished, "waited_out": waited_out,
            "final_statuses": dict(sorted(Counter(statuses.get(rid, "missing") for rid in accepted).items())),
            "statuses": statuses, "aws": aws, "redis_commands": commands, "cpu_ms": cpu,
            "load_began": result.started, "machine": {"before": load_before, "after": machine()}}


def _cpu_per_message(cpu: Mapping[str, float | None], messages: int) -> dict[str, float | None]:
    return {role: (round(ms / messages, 3) if ms is not None and messages else None) for role, ms in cpu.items()}


def run(requests: int, rps: float, undelivered_share: float, say, *, receipt_delay_s: float = 0.0,
        receipt_jitter_s: float = 0.0) -> dict:
    from bench.bench_stack import BenchStack
    from bench.measure import machine
    from bench.scenarios import StackProbe

    started = time.time()
    results: dict = {"bench": "delivery_truth",
                     "started_utc": datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "git": _git_commit(),
                     "machine": {"cpus": machine()["cpus"], "loadavg_before": machine()["loadavg"]}}
    dispatch_key, truth_key = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    env = {**COMMON_ENV, "SIM_TIMEOUT_S": "5", "SIM_RATE_LIMIT": "50", "SIM_KINDS": VENDOR_KINDS,
           "SIM_RECEIPT_DELAY_S": f"{receipt_delay_s:g}", "SIM_RECEIPT_JITTER_S": f"{receipt_jitter_s:g}",
           "SIM_UNDELIVERED_SHARE": str(undelivered_share),
           "CALLBACK_RETRY_BASE_S": "1", "API_KEYS": f"{dispatch_key},{truth_key}"}
    stack = BenchStack(env)
    receiver = Receiver(stack.workdir)
    stack.env_overrides["CLIENTS"] = _clients_document(dispatch_key, truth_key, receiver.url, receiver.secret)
    results["config"] = {"requests_per_phase": requests, "offered_rps": rps, "undelivered_share": undelivered_share,
                         "env": {k: v for k, v in env.items() if k != "API_KEYS"},
                         "providers": VENDOR_KINDS,
                         "receipts": f"sent {receipt_delay_s:g} to {receipt_delay_s + receipt_jitter_s:g} s after the "
                                     "send is accepted"}
    try:
        say("starting the local stack")
        stack.start()
        probe = StackProbe(stack)
        simulators = stack.state["simulators"]
        say("warming up")
        _warm_up(stack, probe, dispatch_key, truth_key, receiver)

        for name in simulators:  # dispatch phase: receipts held back past the end of the run
            _http_json(f"{simulators[name]}/_config", {"receipt_delay_s": HOLD_RECEIPTS_S})
        dispatch = _run_phase(stack, probe, None, name="dispatch", api_key=dispatch_key, requests=requests,
                              rps=rps, done_when=(Status.SENT, Status.FAILED), wait_s=90, say=say)
        for name in simulators:
            _http_json(f"{simulators[name]}/_reset", {})
            _http_json(f"{simulators[name]}/_config", {"receipt_delay_s": receipt_delay_s})
        _http_json(f"{receiver.url}/_reset", {})
        truth = _run_phase(stack, probe, receiver, name="truth", api_key=truth_key, requests=requests, rps=rps,
                           done_when=(*FINAL, Status.FAILED), wait_s=120, say=say)
        seen = receiver.stats()
        receipts = {name: _http_json(f"{simulators[name]}/_receipts") for name in simulators}
        logs = stack.workdir / "logs"
        recorded = []
        for log in ("api.log", "delivery-events.log"):
            path = logs / log
            if path.exists():
                recorded += log_records(path.read_text(errors="replace").splitlines(), "delivery recorded")
        results.update(figures(dispatch, truth, seen, receipts, recorded))
    finally:
        say("stopping the local stack")
        receiver.stop()
        stack.stop()
    results["duration_s"] = round(time.time() - started, 1)
    results["machine"]["loadavg_after"] = machine()["loadavg"]
    return results


def _warm_up(stack, probe, dispatch_key: str, truth_key: str, receiver: Receiver, timeout_s: float = 60) -> None:
    """One request per client end to end: every process has built its clients before anything is counted."""
    ids = []
    for key in (dispatch_key, truth_key):
        request = urllib.request.Request(  # noqa: S310 (the local API)
            f"{stack.state['api_url']}/api/sms", method="POST",
            data=json.dumps({"phone": "+14155550100", "text": "warm-up"}).encode(),
            headers={"Content-Type": "application/json", "X-Api-Key": key})
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
            ids.append(json.loads(response.read())["id"])
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        statuses = probe.final_statuses(set(ids))
        if statuses.get(ids[0]) in FINAL and statuses.get(ids[1]) in FINAL and any(
                p["status"] in FINAL for p in receiver.stats()["events"].values()):
            return
        time.sleep(0.5)


def figures(dispatch: dict, truth: dict, seen: dict, receipts: Mapping[str, list[dict]],
            recorded: list[dict]) -> dict:
    truth_ids = set(truth["accepted_at"])
    applied = [r for r in recorded if r.get("request_id") in truth_ids]
    applied_at = {r["request_id"]: r["t"] for r in applied}
    by_handler = Counter(r.get("provider") for r in applied)
    events, received_at = seen["events"], seen["received_at"]
    by_provider_latency = {}
    for provider in sorted({p.get("provider") for p in events.values() if p.get("provider")}):
        ids = {p["id"] for p in events.values() if p.get("provider") == provider and p["id"] in truth_ids}
        by_provider_latency[provider] = stats.summarize(
            callback_latencies_ms(events, received_at, statuses=FINAL, ids=ids), digits=0)
    dispatch_messages = dispatch["finished"]
    truth_messages = sum(1 for rid in truth_ids if truth["statuses"].get(rid) in FINAL)
    queued_by_vendor = sum(entry.get("tries", 0) for entry in receipts.get("aws", []))
    base = cost_figures(dispatch["aws"], dispatch["redis_commands"], dispatch_messages, dispatch["accepted"])
    full = cost_figures(truth["aws"], truth["redis_commands"], truth_messages, truth["accepted"])
    gateway = cost_figures(without_vendor_calls(truth["aws"], queued_by_vendor), truth["redis_commands"],
                           truth_messages, truth["accepted"])

    def flat(cost: dict) -> dict[str, float | None]:
        per = cost["per_delivered"]
        return {"dynamodb_writes": per["dynamodb_writes"], "dynamodb_wru": per["dynamodb_wru"],
                "dynamodb_reads": per["dynamodb_reads"], "sqs_requests": per["sqs_requests"],
                "sqs_requests_without_empty_receives": per["sqs_requests_without_empty_receives"],
                "redis_commands": per["redis_commands"], **{f"op {k}": v for k, v in per["by_operation"].items()}}

    dispatch_cpu = _cpu_per_message(dispatch["cpu_ms"], dispatch_messages)
    truth_cpu = _cpu_per_message(truth["cpu_ms"], truth_messages)
    gateway_roles = [r for r in truth_cpu if r not in ("simulators", "aws proxy (bench only)", "aws emulator (moto)",
                                                       "callback receiver (client side)")]
    extra_cpu = {r: v for r, v in extra_per_message({r: dispatch_cpu.get(r, 0) for r in gateway_roles},
                                                    {r: truth_cpu.get(r, 0) for r in gateway_roles}).items()}
    return {
        "phases": {phase["name"]: {k: v for k, v in phase.items() if k not in ("accepted_at", "statuses")}
                   for phase in (dispatch, truth)},
        "receipts": {
            "sent_by_simulators": {name: len(entries) for name, entries in receipts.items()},
            # More than one try: the gateway did not answer 2xx at first (409 "too early": the receipt beat the
            # dispatcher's `sent` write), and the vendor sent it again a second later.
            "sent_more_than_once": {name: sum(1 for e in entries if e.get("tries", 0) > 1)
                                    for name, entries in receipts.items()},
            "applied": len(applied),
            "applied_by_provider": dict(sorted(by_handler.items())),
            "ingestion": rate([r["t"] for r in applied]),
            "dispatch_rate_for_comparison": rate(list(truth["accepted_at"].values())),
            "note": "receipts follow the sends (a fixed delay and jitter after each): the rate offered to the handlers "
                    "is the dispatch rate, so this is the rate carried, not a ceiling",
        },
        "callbacks": {
            "received": seen["received"], "processed": seen["processed"], "duplicates": seen["duplicates"],
            "bad_signatures": seen["bad_signatures"],
            "final_events": sum(1 for p in events.values() if p["id"] in truth_ids and p["status"] in FINAL),
            "sent_events": sum(1 for p in events.values() if p["id"] in truth_ids and p["status"] == Status.SENT),
            "latency_ms_from_occurred_at": {
                "final": stats.summarize(callback_latencies_ms(events, received_at, statuses=FINAL, ids=truth_ids),
                                         digits=0),
                Status.SENT: stats.summarize(callback_latencies_ms(events, received_at, statuses=(Status.SENT,),
                                                              ids=truth_ids), digits=0),
                "final_by_provider": by_provider_latency},
            "latency_ms_from_delivery_recorded_log": stats.summarize(
                callback_latencies_ms(events, received_at, statuses=FINAL, ids=truth_ids, changed_at=applied_at),
                digits=0),
        },
        "cost": {
            "messages": {"dispatch (sent)": dispatch_messages, "truth (delivered or undelivered)": truth_messages},
            "dispatch_per_message": flat(base),
            "truth_per_message": flat(full),
            "truth_per_message_gateway_only": flat(gateway),
            "extra_per_message": extra_per_message(flat(base), flat(full)),
            "extra_per_message_gateway_only": extra_per_message(flat(base), flat(gateway)),
            "aws_simulator_queued_receipts": queued_by_vendor,
            "dispatch_counts": base, "truth_counts": full,
        },
        "cpu": {"dispatch_per_message_ms": dispatch_cpu, "truth_per_message_ms": truth_cpu,
                "extra_per_message_ms": extra_cpu,
                "extra_gateway_ms_per_message": round(sum(v or 0 for v in extra_cpu.values()), 3)},
    }


# ------------------------------------------------------------------ output


def _fmt(value, unit: str = "") -> str:
    return "-" if value is None else f"{value:g}{unit}" if isinstance(value, float | int) else str(value)


def table(results: dict) -> Table:
    out = Table(title=f"Delivery receipts and status callbacks ({results.get('git')})", show_lines=False)
    out.add_column("figure")
    out.add_column("value", justify="right")
    receipts, callbacks, cost = results["receipts"], results["callbacks"], results["cost"]
    ing = receipts["ingestion"]
    out.add_row("receipts applied (delivery recorded)", f"{ing['count']} {receipts['applied_by_provider']}")
    out.add_row("receipt ingestion, first to last", f"{_fmt(ing['per_s'])}/s over {_fmt(ing['span_s'])} s")
    out.add_row("receipt ingestion, busiest 1 s", _fmt(ing["max_in_any_1s"]))
    offered = receipts["dispatch_rate_for_comparison"]["per_s"]
    out.add_row("requests accepted per second, same phase (what was offered)", f"{_fmt(offered)}/s")
    for label, key in (("final", "final"), (Status.SENT, Status.SENT)):
        lat = callbacks["latency_ms_from_occurred_at"][key]
        out.add_row(f"callback latency ({label}), occurred_at -> received",
                    f"p50 {_fmt(lat['p50'])} / p99 {_fmt(lat['p99'])} ms (n={lat['count']})")
    for provider, lat in callbacks["latency_ms_from_occurred_at"]["final_by_provider"].items():
        out.add_row(f"  final via {provider}", f"p50 {_fmt(lat['p50'])} / p99 {_fmt(lat['p99'])} ms")
    lat = callbacks["latency_ms_from_delivery_recorded_log"]
    out.add_row("callback latency (final), gateway write -> received",
                f"p50 {_fmt(lat['p50'])} / p99 {_fmt(lat['p99'])} ms (n={lat['count']})")
    out.add_row("callbacks processed / duplicates / bad signatures",
                f"{callbacks['processed']} / {callbacks['duplicates']} / {callbacks['bad_signatures']}")
    for label, key in (("dispatch only", "dispatch_per_message"), ("with receipts + callbacks", "truth_per_message"),
                       ("extra", "extra_per_message_gateway_only")):
        per = cost[key]
        out.add_row(f"per message, {label}",
                    f"DynamoDB writes {_fmt(per['dynamodb_writes'])}, reads {_fmt(per['dynamodb_reads'])}, "
                    f"SQS {_fmt(per['sqs_requests_without_empty_receives'])} (+empty receives: "
                    f"{_fmt(per['sqs_requests'])})")
    out.add_row("extra gateway CPU per message", f"{_fmt(results['cpu']['extra_gateway_ms_per_message'])} ms")
    return out


def save(results: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(results, indent=1, default=str)
    paths = [out / f"{stamp}-delivery.json", out / "latest-delivery.json"]
    for path in paths:
        path.write_text(text)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300, help="requests per phase")
    parser.add_argument("--rps", type=float, default=20.0, help="offered rate, requests per second")
    parser.add_argument("--undelivered-share", type=float, default=0.1)
    parser.add_argument("--receipt-delay-s", type=float, default=0.0,
                        help="receipts leave this long after the send (default 0: as soon as it is accepted)")
    parser.add_argument("--receipt-jitter-s", type=float, default=0.0, help="... plus up to this much at random")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    results = run(args.requests, args.rps, args.undelivered_share, lambda line: console.log(line),
                  receipt_delay_s=args.receipt_delay_s, receipt_jitter_s=args.receipt_jitter_s)
    paths = save(results, args.out)
    Console().print(table(results))
    console.print(f"finished in {results['duration_s']:.0f} s; wrote " + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
