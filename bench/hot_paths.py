"""Profiles of the two hot paths, in this process, against the bench stack's emulator, Redis and simulators.

  api         POST /api/sms through chalice.test.Client (stage "local": the environment is ours)
  dispatcher  the SQS handler's per-record path, Dispatcher.dispatch_message, one record at a time on
              the main thread (the batch adapter fans records out to threads, which a sampling
              profiler of the main thread would only see as waiting), then DeleteMessageBatch

Each path runs twice: unprofiled, for CPU ms per message (time.process_time: this process only, so
the emulators' and Redis's work is not in it), then under pyinstrument for where the time goes. The
profiled pass is wall time: waiting on moto and Redis shows as the calls that wait.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import defaultdict
from pathlib import Path

from pyinstrument import Profiler
from pyinstrument.stack_sampler import get_stack_sampler

PROFILE_QUEUE = "sms-dispatch-profile"


ROOT = Path(__file__).resolve().parent.parent


def _is_project(path: str) -> bool:
    """The gateway's own code: app.py and chalicelib/, not chalice's own app.py nor anything installed."""
    return path == str(ROOT / "app.py") or path.startswith(str(ROOT / "chalicelib"))


def _top_frames(session, limit: int = 15) -> dict[str, list[dict]]:
    """Self time by function, and inclusive time of the project's own functions (chalicelib, app)."""
    root = session.root_frame()
    total = root.time if root else 0.0
    self_times: defaultdict[str, float] = defaultdict(float)
    inclusive: defaultdict[str, float] = defaultdict(float)

    def walk(frame, on_stack: frozenset[str]) -> None:
        key = f"{frame.function} ({frame.file_path_short}:{frame.line_no})"
        self_times[key] += frame.total_self_time
        path = frame.file_path or ""
        if _is_project(path) and key not in on_stack:
            inclusive[key] += frame.time
        for child in frame.children:
            walk(child, on_stack | {key})

    if root is not None:
        walk(root, frozenset())

    def rows(table: dict[str, float]) -> list[dict]:
        ordered = sorted(table.items(), key=lambda kv: kv[1], reverse=True)[:limit]
        return [{"function": k, "seconds": round(v, 4), "share": round(v / total, 4) if total else None}
                for k, v in ordered]

    return {"total_s": round(total, 3), "self": rows(self_times), "inclusive_project": rows(inclusive)}


def profile_hot_paths(stack, out_dir: Path, messages: int = 150) -> dict:
    """Run both paths against a started BenchStack; write the text profiles into out_dir."""
    saved = dict(os.environ)
    providers = [{**p, "rate_limit": 100_000} for p in stack.providers]
    os.environ.update({k: v for k, v in stack.env.items() if isinstance(v, str)})
    os.environ.update({
        "AWS_ENDPOINT_URL": stack.moto_url,  # not through the counting proxy: its cost is not the gateway's
        "DISPATCH_QUEUE_NAME": PROFILE_QUEUE,
        "REDIS_KEY_PREFIX": f"bench-profile-{os.getpid()}",
        "SMS_PROVIDERS": json.dumps(providers),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
    })
    try:
        with _logs_to(out_dir / "profile-logs.jsonl"):
            return _profile(stack, out_dir, messages)
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _logs_to(path: Path):
    """The gateway's JSON log lines go to a file while profiling (still written: they are part of the cost)."""
    import logging

    import chalicelib.logs  # noqa: F401  (creates the service logger and its stdout handler)

    handlers = [h for h in logging.getLogger("sms-gateway").handlers if isinstance(h, logging.StreamHandler)]
    with path.open("w") as sink:
        previous = [h.setStream(sink) for h in handlers]
        try:
            yield
        finally:
            for handler, stream in zip(handlers, previous, strict=True):
                handler.setStream(stream)


def _profiled(run, path: Path, *, cpu: bool) -> dict:
    """Profile run() on this thread: by CPU time (thread_time as pyinstrument's clock) or by wall time."""
    sampler = get_stack_sampler()
    sampler.timer_func = time.thread_time if cpu else None
    sampler.last_profile_time = 0.0  # the previous session's clock may have been the other one
    try:
        profiler = Profiler(interval=0.0005)
        profiler.start()
        run()
        profiler.stop()
    finally:
        sampler.timer_func = None
    path.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
    return {**_top_frames(profiler.last_session), "clock": "cpu (thread_time)" if cpu else "wall", "file": path.name}


def _simulator_limits(stack, rate_limit: int) -> None:
    import httpx

    for base in stack.state["simulators"].values():
        httpx.post(f"{base}/_reset", timeout=5)
        httpx.post(f"{base}/_config", json={"mode": "ok", "rate_limit": rate_limit}, timeout=5)


def _profile(stack, out_dir: Path, messages: int) -> dict:
    import boto3
    from chalice.test import Client

    import app as gateway
    from chalicelib import wiring
    from chalicelib.dispatch_queue import DispatchMessage
    from chalicelib.settings import get_settings
    from localdev.resources import create_queues

    settings = get_settings()
    create_queues(settings)
    sqs = boto3.client("sqs", region_name=settings.aws_region, endpoint_url=stack.moto_url)
    queue_url = sqs.get_queue_url(QueueName=PROFILE_QUEUE)["QueueUrl"]
    _simulator_limits(stack, 100_000)
    headers = {"X-Api-Key": stack.state["api_key"], "Content-Type": "application/json"}
    results: dict = {"messages_per_pass": messages}

    with Client(gateway.app, stage_name="local") as client:
        def post_many(count: int, tag: str) -> int:
            accepted = 0
            for index in range(count):
                body = json.dumps({"phone": f"+1415555{index % 10000:04d}", "text": f"profile {tag} {index}"})
                response = client.http.post("/api/sms", headers=headers, body=body)
                accepted += response.status_code == 202
            return accepted

        post_many(5, "warm-up")  # wiring, connection pools, script loading: not the steady state
        started = time.process_time()
        wall = time.perf_counter()
        accepted = post_many(messages, "cpu")
        results["api"] = {"accepted": accepted,
                          "cpu_ms_per_message": round((time.process_time() - started) * 1000 / messages, 3),
                          "wall_ms_per_message": round((time.perf_counter() - wall) * 1000 / messages, 3)}
        results["api"]["profile"] = _profiled(lambda: post_many(messages, "profiled-cpu"),
                                              out_dir / "profile-api-cpu.txt", cpu=True)
        results["api"]["profile_wall"] = _profiled(lambda: post_many(messages, "profiled-wall"),
                                                   out_dir / "profile-api-wall.txt", cpu=False)

    dispatcher = wiring.get_dispatcher()

    def dispatch_some(limit: int, max_s: float = 20.0) -> int:
        done = 0
        empty = 0
        deadline = time.monotonic() + max_s  # bounded: a slow emulator call must not hold up the whole run
        while done < limit and empty < 3 and time.monotonic() < deadline:
            batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            records = batch.get("Messages", [])
            empty = 0 if records else empty + 1
            for record in records[: limit - done]:
                dispatcher.dispatch_message(DispatchMessage.from_body(record["Body"]))
                done += 1
            if records:
                sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
                    {"Id": str(i), "ReceiptHandle": r["ReceiptHandle"]} for i, r in enumerate(records)])
        return done

    dispatch_some(5)
    started = time.process_time()
    wall = time.perf_counter()
    dispatched = dispatch_some(messages)
    results["dispatcher"] = {
        "dispatched": dispatched,
        "cpu_ms_per_message": round((time.process_time() - started) * 1000 / max(1, dispatched), 3),
        "wall_ms_per_message": round((time.perf_counter() - wall) * 1000 / max(1, dispatched), 3),
    }
    # The queue still holds the messages of the API's two profiled passes: one pass each.
    results["dispatcher"]["profile"] = _profiled(lambda: dispatch_some(messages),
                                                 out_dir / "profile-dispatcher-cpu.txt", cpu=True)
    results["dispatcher"]["profile_wall"] = _profiled(lambda: dispatch_some(messages),
                                                      out_dir / "profile-dispatcher-wall.txt", cpu=False)
    results["note"] = ("in-process, one message at a time, emulator and Redis in other processes; "
                       "cpu_ms_per_message is this process's CPU only (time.process_time)")
    return results
