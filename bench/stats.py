"""Pure helpers behind every benchmark figure: no I/O, no clock, so the unit tests pin them down.

Times are epoch seconds (floats) throughout: the load generator, the simulators and the routing-path
harness all stamp with ``time.time()`` on the same machine, so their timestamps compare directly.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence

from chalicelib.lifecycle import TERMINAL
from localdev.provider_simulator import max_in_any_window

__all__ = [
    "backlog_saturated_rate",
    "cutoff_after",
    "duplicates",
    "fixed_window_admit",
    "fixed_window_overshoot",
    "lost",
    "max_in_any_window",
    "per_second",
    "percentile",
    "summarize",
    "trailing_window_counts",
]



def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation between closest ranks (numpy's default)."""
    if not 0 <= q <= 100:
        raise ValueError("q must be between 0 and 100")
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(values: Sequence[float], digits: int = 1) -> dict[str, float | int | None]:
    """count, p50, p95, p99, max and mean, rounded: the shape every latency figure takes in the JSON."""
    if not values:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    return {
        "count": len(values),
        "p50": round(percentile(values, 50), digits),
        "p95": round(percentile(values, 95), digits),
        "p99": round(percentile(values, 99), digits),
        "max": round(max(values), digits),
        "mean": round(sum(values) / len(values), digits),
    }


def per_second(timestamps: Iterable[float], start: float, end: float) -> list[int]:
    """Counts per 1-second bin [start + k, start + k + 1) for k in 0 .. ceil(end - start) - 1."""
    bins = max(0, math.ceil(end - start))
    counts = [0] * bins
    for t in timestamps:
        k = math.floor(t - start)
        if 0 <= k < bins:
            counts[k] += 1
    return counts


def trailing_window_counts(timestamps: Iterable[float], window_s: float = 1.0) -> list[tuple[float, int]]:
    """(t, arrivals in (t - window_s, t]) at each arrival: the provider's own view of its rate, for plots.

    Its maximum equals max_in_any_window(timestamps, window_s): a busiest window can always be slid to
    end on an arrival.
    """
    ordered = sorted(timestamps)
    out: list[tuple[float, int]] = []
    start = 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - window_s:
            start += 1
        out.append((t, end - start + 1))
    return out


def duplicates(sent_references: Iterable[str | None]) -> dict[str, int]:
    """References that were sent more than once (one entry per accepted idempotency key): {reference: times}.

    A simulator keeps one `sent` entry per idempotency key, so a reference seen twice across all providers
    means two different attempts of one request each reached a handset: a duplicate SMS.
    """
    counts = Counter(ref for ref in sent_references if ref)
    return {ref: n for ref, n in counts.items() if n > 1}


def lost(accepted_ids: Iterable[str], final_status: Mapping[str, str | None]) -> list[str]:
    """Accepted request ids whose final status is not terminal (or that the store does not know)."""
    return sorted(rid for rid in accepted_ids if final_status.get(rid) not in TERMINAL)


def backlog_saturated_rate(
    accepted_at: Sequence[float], sent_at: Sequence[float], capacity_per_s: float, start: float, end: float
) -> dict[str, float | int | None]:
    """The delivered rate over the seconds in which the gateway had at least one second of work queued.

    Backlog at the start of second k = accepted before it - sent before it. A second counts as saturated
    when that backlog is at least capacity_per_s: the providers could have been kept busy for all of it,
    so anything delivered below capacity was lost throughput, not missing demand.
    """
    accepted_bins = per_second(accepted_at, start, end)
    sent_bins = per_second(sent_at, start, end)
    backlog = 0
    saturated: list[int] = []
    for accepted, sent in zip(accepted_bins, sent_bins, strict=True):
        if backlog >= capacity_per_s:
            saturated.append(sent)
        backlog += accepted - sent
    if not saturated:
        return {"saturated_seconds": 0, "delivered_per_s": None, "capacity_per_s": capacity_per_s, "ratio": None}
    rate = sum(saturated) / len(saturated)
    return {
        "saturated_seconds": len(saturated),
        "delivered_per_s": round(rate, 2),
        "capacity_per_s": capacity_per_s,
        "ratio": round(rate / capacity_per_s, 4) if capacity_per_s else None,
    }


def cutoff_after(arrivals: Sequence[float], down_at: float, quiet_s: float = 1.0) -> dict[str, float | int | None]:
    """How long a provider that went down at `down_at` kept receiving traffic, and how much.

    The cutoff is the last arrival at or after down_at that is followed by at least quiet_s of silence
    (or by nothing): the moment the router stopped choosing it. Arrivals after that are probes once the
    unhealthy period ends, counted apart.
    """
    after = sorted(t for t in arrivals if t >= down_at)
    if not after:
        return {"seconds_to_no_traffic": 0.0, "requests_spent": 0, "probes_after": 0}
    for index, t in enumerate(after):
        following = after[index + 1] if index + 1 < len(after) else math.inf
        if following - t >= quiet_s:
            return {
                "seconds_to_no_traffic": round(t - down_at, 3),
                "requests_spent": index + 1,
                "probes_after": len(after) - index - 1,
            }
    raise AssertionError("unreachable: the last arrival is always followed by silence")


def fixed_window_admit(decision_times: Iterable[float], limit: int, window_s: float = 1.0) -> list[float]:
    """The times a fixed-window counter (INCR on key floor(t / window_s), EXPIRE) lets through."""
    used: defaultdict[int, int] = defaultdict(int)
    admitted = []
    for t in sorted(decision_times):
        key = math.floor(t / window_s)
        if used[key] < limit:
            used[key] += 1
            admitted.append(t)
    return admitted


def fixed_window_overshoot(decision_times: Iterable[float], limit: int, window_s: float = 1.0) -> dict[str, int]:
    """What a fixed-window limiter admits, seen by a provider counting any window_s: up to 2 x limit."""
    admitted = fixed_window_admit(decision_times, limit, window_s)
    busiest = max_in_any_window(admitted, window_s) if admitted else 0
    return {"admitted": len(admitted), "max_in_any_window": busiest, "over_limit_by": max(0, busiest - limit)}
