"""Goals, cost estimate, Markdown report and PNG plots from the benchmark's JSON results.

    python -m bench.report [--results bench/results]   # rebuild report.md and plots from latest-*.json

The report covers every profile that has a `latest-<profile>.json`, newest figures first.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

# us-east-1 list prices as known to the author (they may have changed since): see docs/benchmarks.md.
PRICES = {
    "as_of": "list prices as known in 2025 (DynamoDB on-demand since the Nov 2024 cut); check aws.amazon.com/pricing",
    "sqs_per_million_requests": 0.40,  # standard queue, per 64 KB chunk, after the free tier
    "dynamodb_per_million_wru": 0.625,  # on-demand write request units
    "dynamodb_per_million_rru": 0.125,  # on-demand read request units
    "lambda_per_million_requests": 0.20,
    "lambda_per_gb_second": 0.0000166667,  # x86
    "api_gateway_rest_per_million": 3.50,  # first 333 million requests a month
}
LAMBDA_MEMORY_GB = 0.5  # .chalice/config.json: api_handler and dispatch_sms at 512 MB
NAMES = ("alpha", "beta", "gamma")
COLOURS = {"alpha": "tab:blue", "beta": "tab:orange", "gamma": "tab:green"}


# ------------------------------------------------------------------ cost and goals


def cost_per_million(cost: dict, api_latency_p50_ms: float | None, dispatcher_wall_ms: float | None) -> dict:
    """Estimated AWS cost per million delivered messages from counted calls and list prices."""
    per = cost["per_delivered"]
    delivered = cost["delivered"] or 1
    api_calls = cost["accepted"] / delivered
    dispatcher_invocations = cost["dispatcher_invocations"] / delivered
    api_s = (api_latency_p50_ms or 20) / 1000
    dispatch_s = (dispatcher_wall_ms or 100) / 1000
    lines = {
        "sqs": per["sqs_requests"] * PRICES["sqs_per_million_requests"],
        "dynamodb_writes": per["dynamodb_wru"] * PRICES["dynamodb_per_million_wru"],
        "dynamodb_reads": per["dynamodb_reads"] * PRICES["dynamodb_per_million_rru"],
        "api_gateway": api_calls * PRICES["api_gateway_rest_per_million"],
        "lambda_requests": (api_calls + dispatcher_invocations) * PRICES["lambda_per_million_requests"],
        "lambda_compute": (api_calls * api_s + dispatch_s) * LAMBDA_MEMORY_GB * PRICES["lambda_per_gb_second"]
        * 1_000_000,
    }
    lines = {k: round(v, 3) for k, v in lines.items()}
    return {
        "usd_per_million_messages": lines,
        "total": round(sum(lines.values()), 2),
        "assumptions": (f"Lambda at 512 MB; API invocation = API p50 latency ({api_s * 1000:.0f} ms); dispatcher "
                        f"time per message = in-process sequential wall time ({dispatch_s * 1000:.0f} ms, an upper "
                        "bound: a batch sends concurrently); 1 RRU per read call; ElastiCache, data transfer and "
                        "CloudWatch Logs not included"),
    }


def _goal(goal: str, target: str, measured, met: bool | None, note: str = "") -> dict:
    return {"goal": goal, "target": target, "measured": measured, "met": met, "note": note}


def evaluate_goals(results: dict) -> list[dict]:
    """The table of the "book a send slot" issue, row by row, from one run (targets beside each figure)."""
    scenarios = results.get("scenarios", {})
    profile = results["profile"]
    goals = []
    path = results.get("routing_path", {}).get("scenarios", {})
    router = path.get("healthy", {}).get("router")
    if router:
        goals.append(_goal("max arrivals in any 1 s at a 50/s provider, routing path at 200 msg/s", "<= 50",
                           f"{router['max_in_any_1s']} ({router['over_limit_429']} answered 429)",
                           router["max_in_any_1s"] <= router["limit"]))
        goals.append(_goal("delivered / capacity, routing path, healthy", ">= 0.97",
                           f"{router['delivered_ratio']} ({router['delivered_per_s']}/s)",
                           router["delivered_ratio"] is not None and router["delivered_ratio"] >= 0.97))
    worst = [(name, p, f["providers"][p]["max_in_any_1s"], f["providers"][p]["limit"])
             for name, f in scenarios.items() for p in NAMES]
    if worst:
        over = [w for w in worst if w[2] > w[3]]
        peak = max(worst, key=lambda w: w[2] - w[3])
        goals.append(_goal(f"max arrivals in any 1 s per provider, end to end ({profile}, every scenario)",
                           f"<= {peak[3]}", f"max {peak[2]} ({peak[0]}/{peak[1]})", not over,
                           "; ".join(f"{n}/{p}: {m}" for n, p, m, _ in over)))
    healthy = scenarios.get("healthy")
    if healthy:
        ratio = healthy["saturated"]["ratio"]
        goals.append(_goal(f"delivered / capacity, local stack, saturated ({profile}, healthy)", ">= 0.95",
                           f"{ratio} ({healthy['saturated']['delivered_per_s']}/s of "
                           f"{healthy['saturated']['capacity_per_s']:g})" if ratio is not None else "not saturated",
                           ratio is not None and ratio >= 0.95))
        p99 = healthy["api"]["latency_ms"]["p99"]
        goals.append(_goal(f"API p99 ({profile}, healthy)", "<= 100 ms", f"{p99} ms", p99 is not None and p99 <= 100))
        per = healthy["cost"]["per_delivered"]
        goals.append(_goal(f"Redis script calls per delivered message ({profile}, healthy, saturated)", "<= 2",
                           per.get("redis_script_calls"),
                           per.get("redis_script_calls") is not None and per["redis_script_calls"] <= 2))
        goals.append(_goal(f"SQS requests per delivered message ({profile}, healthy, saturated)", "<= 1.2",
                           f"{per['sqs_requests']} ({per['sqs_send_message']} SendMessage)",
                           per["sqs_requests"] is not None and per["sqs_requests"] <= 1.2))
    carried = scenarios.get("carried")
    if carried:
        per = carried["cost"]["per_delivered"]
        goals.append(_goal(f"SQS requests per delivered message ({profile}, carried, 10 RPS)", "<= 1.5",
                           f"{per['sqs_requests']} ({per['sqs_send_message']} SendMessage)",
                           per["sqs_requests"] is not None and per["sqs_requests"] <= 1.5))
    if healthy:
        per = healthy["cost"]["per_delivered"]
        goals.append(_goal(f"DynamoDB writes per delivered message ({profile}, healthy)",
                           "<= 4 (floor: 4, +1 per Idempotency-Key)", per["dynamodb_writes"],
                           per["dynamodb_writes"] is not None and per["dynamodb_writes"] <= 4))
        cpu = healthy["cpu"]["per_message_ms"]
        goals.append(_goal(f"dispatcher CPU ms per delivered message ({profile}, healthy, /proc, all)", "<= 6 ms",
                           f"{cpu.get('dispatchers (all)')} ms",
                           cpu.get("dispatchers (all)") is not None and cpu["dispatchers (all)"] <= 6))
        goals.append(_goal(f"API CPU ms per accepted request ({profile}, healthy, /proc)", "<= 3 ms",
                           f"{cpu.get('api')} ms", cpu.get("api") is not None and cpu["api"] <= 3))
        emulator = cpu.get("aws emulator (moto)")
        goals.append(_goal(f"AWS emulator CPU ms per delivered message ({profile}, healthy)", "<= 21 ms (half of 42)",
                           f"{emulator} ms", emulator is not None and emulator <= 21))
    decisions = results.get("routing_decisions", {}).get("runs", {})
    if decisions:
        router_rate = next(iter(decisions.values()))["decisions_per_s"]
        limits_rate = next((r["decisions_per_s"] for n, r in decisions.items() if n.startswith("limits")), None)
        goals.append(_goal("decisions/s from one client, router vs the limits moving window (same run)",
                           ">= limits", f"{router_rate} vs {limits_rate}",
                           limits_rate is not None and router_rate >= limits_rate))
    down = scenarios.get("down")
    if down and down["health"].get("beta"):
        beta = down["health"]["beta"]
        late = beta.get("arrivals_over_1s_after_trip")
        goals.append(_goal(f"sends arriving > 1 s after a provider tripped ({profile}, down)", "0",
                           f"{late} (tripped {beta.get('tripped_after_s')} s after going down)",
                           late is not None and late == 0 if late is not None else None))
    slow = scenarios.get("aws_slow")
    if healthy and slow:
        before, after = healthy["cost"]["per_delivered"], slow["cost"]["per_delivered"]
        grown = [k for k in ("dynamodb_writes", "sqs_requests", "redis_script_calls")
                 if (after.get(k) or 0) > (before.get(k) or 0) * 1.05]
        goals.append(_goal(f"AWS emulator 3x slower: calls per message do not grow ({profile})", "no growth",
                           ", ".join(f"{k} {before.get(k)} -> {after.get(k)}" for k in
                                     ("dynamodb_writes", "sqs_requests", "redis_script_calls")), not grown))
        goals.append(_goal(f"AWS emulator 3x slower: delivered / capacity ({profile})", "the emulator's ceiling",
                           f"{slow['saturated']['ratio']} (healthy {healthy['saturated']['ratio']})", None))
    undetermined = [n for n, f in scenarios.items() if f["lost"] is None]
    lost = sum(f["lost"] or 0 for f in scenarios.values())
    dups = sum(f["duplicates"] for f in scenarios.values())
    if scenarios:
        unfinished = sum(f["unfinished"] for n, f in scenarios.items() if n in undetermined)
        determined = [n for n in scenarios if n not in undetermined]
        met = False if lost else (None if undetermined else True)
        goals.append(_goal(f"0 lost ({profile})", "0", f"{lost} in {determined or 'no scenario'}", met,
                           f"undetermined in {undetermined}: the drain bound ran out with {unfinished} requests "
                           "still queued or waiting" if undetermined else ""))
        goals.append(_goal(f"0 duplicates ({profile}, all scenarios)", "0", dups, dups == 0))
    return goals


# ------------------------------------------------------------------ plots


def plot_profile(results: dict, out_dir: Path) -> list[str]:
    profile = results["profile"]
    scenarios = results.get("scenarios", {})
    if not scenarios:
        return []
    files = []
    count = len(scenarios)
    fig, axes = plt.subplots(count, 1, figsize=(11, 2.6 * count), squeeze=False)
    for ax, (name, f) in zip(axes[:, 0], scenarios.items(), strict=True):
        series = f["series"]
        for provider in NAMES:
            points = series["trailing_1s"].get(provider, [])
            if points:
                xs, ys = zip(*points, strict=True)
                ax.step(xs, ys, where="post", label=provider, color=COLOURS[provider], linewidth=0.9)
        ax.axhline(series["limit"], color="red", linestyle="--", linewidth=1, label=f"limit {series['limit']}/s")
        for t in series["switches"]:
            ax.axvline(t, color="grey", linestyle=":", linewidth=1)
        ax.set_title(f"{profile} / {name}: {f['title']}", fontsize=9)
        ax.set_ylabel("arrivals in\ntrailing 1 s")
        peak = max((n for points in series["trailing_1s"].values() for _, n in points), default=0)
        ax.set_ylim(0, max(series["limit"] * 1.6, peak + 1))
        ax.legend(loc="upper right", fontsize=7, ncol=4)
    axes[-1, 0].set_xlabel("seconds since the load started (dotted: simulator switched)")
    fig.tight_layout()
    path = out_dir / f"{profile}-provider-rate.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    files.append(path.name)

    fig, ax = plt.subplots(figsize=(9, 4))
    for name, f in scenarios.items():
        latencies = f["series"]["latency_ms"]
        if latencies:
            ax.hist(latencies, bins=60, histtype="step", label=f"{name} (p99 {f['api']['latency_ms']['p99']} ms)")
    ax.set_xlabel("POST /api/sms latency, ms (accepted requests)")
    ax.set_ylabel("requests")
    ax.set_yscale("log")
    ax.axvline(50, color="red", linestyle="--", linewidth=1, label="50 ms goal")
    ax.legend(fontsize=7)
    ax.set_title(f"{profile}: API latency")
    fig.tight_layout()
    path = out_dir / f"{profile}-latency.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    files.append(path.name)

    fig, axes = plt.subplots(count, 1, figsize=(11, 2.4 * count), squeeze=False)
    for ax, (name, f) in zip(axes[:, 0], scenarios.items(), strict=True):
        series = f["series"]
        for status, counts in sorted(series["api_status_per_s"].items()):
            ax.plot(range(len(counts)), counts, label=f"API {status}", linewidth=1)
        sent = series["sent_per_s"]
        ax.plot(range(len(sent)), sent, label="sent (at providers)", color="black", linewidth=1.2)
        capacity = f["saturated"]["capacity_per_s"]
        ax.axhline(capacity, color="red", linestyle="--", linewidth=1, label=f"capacity {capacity:g}/s")
        for t in series["switches"]:
            ax.axvline(t, color="grey", linestyle=":", linewidth=1)
        ax.set_title(f"{profile} / {name}: requests per second", fontsize=9)
        ax.legend(loc="upper right", fontsize=7, ncol=4)
    axes[-1, 0].set_xlabel("seconds since the load started")
    fig.tight_layout()
    path = out_dir / f"{profile}-statuses.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    files.append(path.name)
    return files


def plot_routing_path(path_results: dict, out_dir: Path, stem: str) -> list[str]:
    scenarios = path_results.get("scenarios", {})
    if not scenarios:
        return []
    limit = path_results["limit"]
    fig, axes = plt.subplots(1, len(scenarios), figsize=(5 * len(scenarios), 3.6), squeeze=False)
    for ax, (scenario, by_strategy) in zip(axes[0], scenarios.items(), strict=True):
        names = list(by_strategy)
        for offset, provider in enumerate(NAMES):
            values = [by_strategy[n]["providers"][provider]["max_in_any_1s"] for n in names]
            ax.bar([i + offset * 0.27 for i in range(len(names))], values, width=0.27, label=provider,
                   color=COLOURS[provider])
        ax.axhline(limit, color="red", linestyle="--", linewidth=1, label=f"limit {limit}")
        ax.set_xticks([i + 0.27 for i in range(len(names))], names, rotation=25, fontsize=8)
        ax.set_title(f"routing path / {scenario}: max in any 1 s", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    files = []
    path = out_dir / f"{stem}-routing-path-max.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    files.append(path.name)

    bursts = scenarios.get("boundary_bursts", {})
    if bursts:
        fig, axes = plt.subplots(len(bursts), 1, figsize=(10, 2.4 * len(bursts)), squeeze=False)
        for ax, (name, r) in zip(axes[:, 0], bursts.items(), strict=True):
            for provider in NAMES:
                points = r["trailing_1s"].get(provider, [])
                if points:
                    xs, ys = zip(*points, strict=True)
                    ax.step(xs, ys, where="post", label=provider, color=COLOURS[provider], linewidth=0.9)
            ax.axhline(limit, color="red", linestyle="--", linewidth=1)
            ax.set_title(f"boundary bursts / {name}: arrivals in trailing 1 s (max {r['max_in_any_1s']})", fontsize=9)
            ax.set_ylim(0, limit * 2.2)
            ax.legend(fontsize=7, ncol=3)
        axes[-1, 0].set_xlabel("seconds (bursts of 300 at x.9 s, every 3 s)")
        fig.tight_layout()
        path = out_dir / f"{stem}-routing-path-bursts.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        files.append(path.name)
    return files


# ------------------------------------------------------------------ Markdown


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _own(profile: dict) -> list[dict]:
    """Project rows only (results written before the filter was exact also held chalice's own app.py)."""
    return [row for row in profile["inclusive_project"] if "(chalice/" not in row["function"]]


def _lost(f: dict) -> str:
    if f["lost"] is None:
        return f"? ({f['unfinished']} unfinished at the drain bound)"
    return str(f["lost"])


def _profile_section(results: dict) -> list[str]:
    profile = results["profile"]
    m = results["machine"]
    lines = [f"## Profile `{profile}` ({results['started_utc']}, {results['duration_s']:.0f} s)", "",
             f"Offered {results['config']['offered_rps']:g} RPS to 3 providers limited to "
             f"{results['config']['rate_limit']}/s. Machine: {m['cpus']} CPUs, load average before "
             f"{m['loadavg_before']}, after {m['loadavg_after']} (others share this machine: figures are noisy).",
             f"Health knobs: {results['config']['health']}. Stack: {results['config']['stack']}. "
             f"Commit: {results.get('git')}.", ""]
    lines += [f"Note: {note}" for note in results.get("notes", [])]
    lines += [f"Scenario `{name}` failed: {error}" for name, error in results.get("failed_scenarios", {}).items()]
    if results.get("notes") or results.get("failed_scenarios"):
        lines.append("")
    lines += ["### Goals", "", "| goal | target | measured | met |", "|---|---|---|---|"]
    for g in results["goals"]:
        met = "yes" if g["met"] else ("no" if g["met"] is False else "partly")
        note = f" ({g['note']})" if g["note"] else ""
        lines.append(f"| {g['goal']} | {g['target']} | {_fmt(g['measured'])}{note} | {met} |")
    lines.append("")
    scenarios = results.get("scenarios", {})
    if scenarios:
        lines += ["### End to end, per scenario", "",
                  "| scenario | accepted/s | API p50/p95/p99 ms | max in 1 s (a/b/g) | shares (a/b/g) | "
                  "delivered | saturated rate / capacity | accept-to-sent p50/p99 ms | lost | dup | drain s |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, f in scenarios.items():
            lat = f["api"]["latency_ms"]
            maxes = "/".join(str(f["providers"][p]["max_in_any_1s"]) for p in NAMES)
            shares = "/".join(_fmt(f["providers"][p]["share"]) for p in NAMES)
            sat = f["saturated"]
            ats = f["accept_to_sent_ms"]
            lines.append(
                f"| {name} | {f['api']['accepted_rps']} | {_fmt(lat['p50'])}/{_fmt(lat['p95'])}/{_fmt(lat['p99'])} | "
                f"{maxes} | {shares} | {f['delivered']} | {_fmt(sat['delivered_per_s'])} / {sat['capacity_per_s']:g} "
                f"({_fmt(sat['ratio'])}) | {_fmt(ats['p50'])}/{_fmt(ats['p99'])} | {_lost(f)} | {f['duplicates']} | "
                f"{f['drained_after_s']} |")
        lines.append("")
        health_rows = [(n, p, h) for n, f in scenarios.items() for p, h in f["health"].items()]
        if health_rows:
            lines += ["### Health: a provider going down", "",
                      "| scenario | provider | seconds to no traffic | requests spent meanwhile | probes after |",
                      "|---|---|---|---|---|"]
            lines += [f"| {n} | {p} | {h['seconds_to_no_traffic']} | {h['requests_spent']} | {h['probes_after']} |"
                      for n, p, h in health_rows]
            lines.append("")
        lines += ["### API statuses and final request statuses", ""]
        for name, f in scenarios.items():
            lines.append(f"- {name}: API {f['api']['statuses']}; final {f['final_statuses']}; "
                         f"provider answers " + ", ".join(f"{p} {f['providers'][p]['by_status']}" for p in NAMES))
        lines.append("")
        lines += ["### Cost per delivered message (counted)", "",
                  "| scenario | DynamoDB writes | DynamoDB reads | SQS requests (SendMessage) | Redis commands "
                  "| Redis round trips (script calls + direct) | dispatcher invocations |",
                  "|---|---|---|---|---|---|---|"]
        for name, f in scenarios.items():
            c = f["cost"]
            per = c["per_delivered"]
            trips = sum(n for cmd, n in c["redis_commands"].items() if cmd in ROUND_TRIP_COMMANDS)
            trips_per = round(trips / c["delivered"], 2) if c["delivered"] else None
            lines.append(f"| {name} | {_fmt(per['dynamodb_writes'])} | {_fmt(per['dynamodb_reads'])} | "
                         f"{_fmt(per['sqs_requests'])} ({_fmt(per['sqs_send_message'])}) | "
                         f"{_fmt(per['redis_commands'])} | {_fmt(trips_per)} | {c['dispatcher_invocations']} |")
        lines.append("")
        healthy = scenarios.get("healthy")
        if healthy:
            c = healthy["cost"]
            lines += ["AWS calls in the healthy scenario, per delivered message: " + ", ".join(
                f"{op} {v}" for op, v in c["per_delivered"]["by_operation"].items()) + ".", "",
                "Redis commands in the healthy scenario (INFO commandstats; commands run inside Lua scripts "
                "are counted too): " + ", ".join(f"{k} {v}" for k, v in c["redis_commands"].items()) + ".", ""]
            estimate = results.get("cost_estimate")
            if estimate:
                lines += ["Estimated AWS cost per million delivered messages (us-east-1 list prices, "
                          f"{PRICES['as_of']}): **${estimate['total']}** = " + ", ".join(
                              f"{k} ${v}" for k, v in estimate["usd_per_million_messages"].items()) +
                          f". Assumptions: {estimate['assumptions']}.", ""]
        lines += ["### CPU milliseconds per message, per process (/proc utime+stime)", "",
                  "| scenario | " + " | ".join(CPU_ROLES) + " |", "|---|" + "---|" * len(CPU_ROLES)]
        for name, f in scenarios.items():
            per = f["cpu"]["per_message_ms"]
            lines.append(f"| {name} | " + " | ".join(_fmt(per.get(r)) for r in CPU_ROLES) + " |")
        lines += ["", "API per accepted request; the rest per delivered message. `aws proxy` is the benchmark's "
                  "call counter, not part of the gateway.", ""]
    hot = results.get("hot_paths")
    if hot:
        lines += ["### Hot paths (in-process, pyinstrument)", "", hot.get("note", ""), ""]
        for path in ("api", "dispatcher"):
            h = hot.get(path)
            if not h:
                continue
            lines.append(f"**{path}**: {h['cpu_ms_per_message']} ms CPU and {h['wall_ms_per_message']} ms wall per "
                         f"message in-process. CPU profile ({h['profile']['total_s']} s of CPU sampled, "
                         f"{h['profile']['file']}), top self time:")
            lines.append("")
            lines += [f"- {row['share'] * 100:.1f}% {row['function']}" for row in h["profile"]["self"][:10]]
            lines += ["", "Project functions by CPU, inclusive:", ""]
            lines += [f"- {row['share'] * 100:.1f}% {row['function']}" for row in _own(h["profile"])[:8]]
            wall = h.get("profile_wall")
            if wall:
                lines += ["", f"Project functions by wall time, inclusive ({wall['file']}):", ""]
                lines += [f"- {row['share'] * 100:.1f}% {row['function']}" for row in _own(wall)[:6]]
            lines.append("")
    lines += _routing_path_section(results)
    plots = results.get("plots", [])
    if plots:
        lines += ["### Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    return lines


ROUND_TRIP_COMMANDS = frozenset({"evalsha", "eval", "evalsha_ro", "eval_ro", "fcall", "script|load", "ping", "hello",
                                 "multi", "exec", "client|setinfo", "select"})
CPU_ROLES = ("api", "dispatchers (all)", "aws emulator (moto)", "redis", "simulators", "aws proxy (bench only)",
             "stack supervisor + scheduler", "bench (load generator)")


def _routing_path_section(results: dict) -> list[str]:
    path = results.get("routing_path")
    lines = []
    if path and path.get("scenarios"):
        lines += [f"### Routing path and baselines ({path['rate']:g} msg/s offered, 3 x {path['limit']}/s, "
                  f"{path['seconds']:g} s, same Redis)", "",
                  "| scenario | strategy | max in 1 s (a/b/g) | 429s | delivered/s (ratio of capacity) | "
                  "wasted sends | undelivered | decision p50/p99 ms |", "|---|---|---|---|---|---|---|---|"]
        for scenario, by_strategy in path["scenarios"].items():
            for name, r in by_strategy.items():
                maxes = "/".join(str(r["providers"][p]["max_in_any_1s"]) for p in NAMES)
                dec = r["decision_ms"]
                extra = f" weights {r['final_weights']}" if r.get("final_weights") else ""
                lines.append(f"| {scenario} | {name}{extra} | {maxes} | {r['over_limit_429']} | "
                             f"{_fmt(r['delivered_per_s'])} ({_fmt(r['delivered_ratio'])}) | {r['wasted_sends']} | "
                             f"{r['undelivered']} | {_fmt(dec['p50'])}/{_fmt(dec['p99'])} |")
        lines += ["", "Wasted sends: arrivals at a failing provider plus every 429 a provider answered "
                  "(each one counted against its window).", ""]
    decisions = results.get("routing_decisions")
    if decisions and decisions.get("runs"):
        lines += ["### Decisions per second (bench.routing_decisions, one client)", ""]
        lines += [f"- {name}: {r['decisions_per_s']}/s ({r['outcomes']})" for name, r in decisions["runs"].items()]
        lines.append("")
    return lines


def write_report(results_dir: Path) -> Path:
    sections = ["# Benchmark report", "",
                "Generated by `python -m bench.run`; how to read it: docs/benchmarks.md.", ""]
    for profile in ("scaled", "seed", "quick"):
        latest = results_dir / f"latest-{profile}.json"
        if latest.exists():
            sections += _profile_section(json.loads(latest.read_text()))
    path = results_dir / "report.md"
    path.write_text("\n".join(sections) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    print(f"wrote {write_report(args.results)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
