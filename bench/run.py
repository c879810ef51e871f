"""Run the benchmark: its own local stack, the scenarios, the routing-path baselines, profiles, report.

    python -m bench.run --profile scaled                 # make bench: every scenario, a few minutes
    python -m bench.run --profile quick                  # make bench-quick: under a minute
    python -m bench.run --profile seed                   # the seed's numbers: 200 RPS to 3 x 50/s
    python -m bench.run --profile scaled --scenarios healthy,down --out /tmp/bench

Writes <out>/<UTC timestamp>-<profile>.json, latest.json, latest-<profile>.json, report.md (every
profile with a latest-*.json) and PNG plots. Profiles and scenarios: bench/scenarios.py; what each
figure means: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bench import report
from bench.bench_stack import BenchStack
from bench.measure import machine
from bench.scenarios import HEALTH_ENV, Profile, StackProbe, profiles, run_scenario
from bench.scenarios import Progress as ScenarioProgress

RESULTS = Path(__file__).parent / "results"


def _git_commit() -> str | None:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).parent).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=5, cwd=Path(__file__).parent).stdout.strip()
        return f"{commit}{' (uncommitted changes)' if dirty else ''}" or None
    except (OSError, subprocess.SubprocessError):
        return None


def select(profile: Profile, wanted: str) -> Profile:
    if wanted == "all":
        return profile
    names = [n.strip() for n in wanted.split(",") if n.strip()]
    known = {s.name: s for s in profile.scenarios}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown scenario(s) {unknown} in profile {profile.name}; known: {sorted(known)}")
    return Profile(profile.name, profile.rate_limit, profile.offered_rps, tuple(known[n] for n in names),
                   profile.env, profile.routing_path_seconds, profile.routing_path_strategies)


def run(profile: Profile, out: Path, update: Callable[[str, float, float, str], None], *, routing_path: bool = True,
        hot_paths: bool = True, redis_url: str | None = None) -> dict:
    started = time.time()
    results: dict = {
        "profile": profile.name,
        "started_utc": datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git": _git_commit(),
        "machine": {"cpus": machine()["cpus"], "loadavg_before": machine()["loadavg"]},
        "config": {"offered_rps": profile.offered_rps, "rate_limit": profile.rate_limit, "env": profile.env,
                   "health": ", ".join(f"{k}={v}" for k, v in HEALTH_ENV.items()),
                   "stack": f"{profile.env['DISPATCHER_PROCESSES']} dispatcher processes x "
                            f"{profile.env['DISPATCH_CONCURRENCY']} invocations, provider timeout "
                            f"{profile.env['SIM_TIMEOUT_S']} s, simulator latency {profile.env['SIM_LATENCY_MS']}"
                            " ms +- half"},
        "scenarios": {},
    }
    groups: dict[str, list] = {}
    for scenario in profile.scenarios:
        groups.setdefault(scenario.weights, []).append(scenario)
    progress = ScenarioProgress(update)
    first = True
    for weights, scenarios in groups.items():
        update(f"{profile.name}: starting the local stack (weights {weights})", 0, 1, "")
        stack = BenchStack({**profile.env, "SIM_WEIGHTS": weights}, redis_url=redis_url).start()
        try:
            probe = StackProbe(stack)
            update(f"{profile.name}: warming up the local stack", 0, 1, "")
            probe.warm_up()
            for scenario in scenarios:
                try:
                    results["scenarios"][scenario.name] = run_scenario(stack, probe, profile, scenario, progress)
                except Exception as exc:  # one broken scenario must not cost the others' figures
                    results.setdefault("failed_scenarios", {})[scenario.name] = f"{type(exc).__name__}: {exc}"
                    with contextlib.suppress(Exception):  # nor leave its backlog to be the next one's traffic
                        stack.slow_aws(1.0)
                        probe.empty_queue()
            if first and routing_path:
                update(f"{profile.name}: routing path", 0, 1, "")
                results["routing_path"] = _routing_path(stack.redis_url, profile, update)
                results["routing_decisions"] = _routing_decisions(stack.redis_url, profile)
            if first and hot_paths and profile.hot_path_messages:
                update(f"{profile.name}: profiling hot paths", 0, 1, "pyinstrument")
                results["hot_paths"] = _hot_paths(stack, out, profile.hot_path_messages)
        finally:
            update(f"{profile.name}: stopping the local stack", 0, 1, "")
            stack.stop()
        first = False
    results["duration_s"] = round(time.time() - started, 1)
    results["machine"]["loadavg_after"] = machine()["loadavg"]
    healthy = results["scenarios"].get("healthy")
    if healthy:
        hot = results.get("hot_paths", {})
        results["cost_estimate"] = report.cost_per_million(
            healthy["cost"], healthy["api"]["latency_ms"]["p50"], hot.get("dispatcher", {}).get("wall_ms_per_message"))
        results["prices"] = report.PRICES
    results["goals"] = report.evaluate_goals(results)
    return results


def _routing_path(redis_url: str, profile: Profile, update) -> dict:
    from bench import routing_path

    quick = profile.routing_path_strategies is not None
    return routing_path.run_all(
        redis_url, seconds=profile.routing_path_seconds,
        strategies=profile.routing_path_strategies or routing_path.STRATEGIES,
        with_bursts=not quick, with_failing=not quick,
        progress=lambda what, i, n: update(what, i, n, ""))


def _routing_decisions(redis_url: str, profile: Profile) -> dict:
    import redis

    from bench import routing_decisions

    seconds = 1.0 if profile.routing_path_strategies is not None else 3.0
    client = redis.Redis.from_url(redis_url)
    return {"redis_url": redis_url, "seconds_per_run": seconds, "runs": {
        "router, slots never run out": routing_decisions.bench_router(client, 100_000, seconds),
        "router, 50/s limits": routing_decisions.bench_router(client, 50, seconds),
        "limits, moving window (1 provider/hit)": routing_decisions.bench_limits(redis_url, client, 100_000, seconds),
    }}


def _hot_paths(stack: BenchStack, out: Path, messages: int) -> dict:
    from bench.hot_paths import profile_hot_paths

    try:
        return profile_hot_paths(stack, out, messages)
    except Exception as exc:  # a profile is a diagnosis: its failure must not cost the run's figures
        return {"error": f"{type(exc).__name__}: {exc}"}


def save(results: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results["plots"] = report.plot_profile(results, out)
    if results.get("routing_path"):
        results["plots"] += report.plot_routing_path(results["routing_path"], out, results["profile"])
    text = json.dumps(results, indent=1, default=str)
    paths = [out / f"{stamp}-{results['profile']}.json", out / "latest.json", out / f"latest-{results['profile']}.json"]
    for path in paths:
        path.write_text(text)
    paths.append(report.write_report(out))
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=sorted(profiles()), default="quick")
    parser.add_argument("--scenarios", default="all", help="all, or a comma-separated list such as healthy,down")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--redis-url", help="use this Redis instead of starting a redis-server of our own")
    parser.add_argument("--no-routing-path", action="store_true")
    parser.add_argument("--no-profile", action="store_true", help="skip the pyinstrument profiles")
    args = parser.parse_args(argv)
    profile = select(profiles()[args.profile], args.scenarios)
    console = Console(stderr=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        task = bar.add_task("starting", total=1, info="")
        last = {"phase": None}

        def update(phase: str, done: float, total: float, info: str) -> None:
            if phase != last["phase"]:
                if last["phase"] is not None:
                    bar.update(task, completed=bar.tasks[0].total)
                    bar.refresh()
                    console.log(f"done: {last['phase']}")
                last["phase"] = phase
            bar.update(task, description=phase, completed=done, total=max(total, 1e-9), info=info)

        results = run(profile, args.out, update, routing_path=not args.no_routing_path,
                      hot_paths=not args.no_profile, redis_url=args.redis_url)
    paths = save(results, args.out)
    console.print(f"[bold]{profile.name}[/bold] finished in {results['duration_s']:.0f} s; wrote "
                  + ", ".join(str(p) for p in paths))
    for goal in results["goals"]:
        mark = {True: "[green]met[/green]", False: "[red]missed[/red]"}.get(goal["met"], "[yellow]partly[/yellow]")
        console.print(f"  {mark}  {goal['goal']}: {goal['measured']} (target {goal['target']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
