"""What the operating system and Redis count for us: CPU time per process, Redis commands, machine load."""

from __future__ import annotations

import os
from collections.abc import Mapping

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ms(pid: int) -> float | None:
    """utime + stime of one process (all its threads), in ms; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            raw = stat.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; the fields after its closing parenthesis are plain.
    fields = raw[raw.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) * 1000 / CLOCK_TICKS


def cpu_snapshot(pids: Mapping[str, int]) -> dict[str, tuple[int, float | None]]:
    return {role: (pid, cpu_ms(pid)) for role, pid in pids.items()}


def cpu_spent(before: Mapping[str, tuple[int, float | None]],
              after: Mapping[str, tuple[int, float | None]]) -> dict[str, float | None]:
    """CPU ms each role used between two snapshots. A restarted process (new PID) counts from zero."""
    spent: dict[str, float | None] = {}
    for role, (pid, end) in after.items():
        start_pid, start = before.get(role, (None, None))
        if end is None:
            spent[role] = None
        elif start_pid != pid or start is None:
            spent[role] = end
        else:
            spent[role] = end - start
    return spent


def redis_commandstats(client) -> dict[str, int]:
    """{command: calls} from INFO commandstats (the INFO calls themselves excluded by the diff)."""
    stats = client.info("commandstats")
    return {key.removeprefix("cmdstat_"): int(value["calls"]) for key, value in stats.items()}


def commands_between(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    diff = {cmd: after[cmd] - before.get(cmd, 0) for cmd in after}
    diff.pop("info", None)
    return {cmd: n for cmd, n in sorted(diff.items()) if n > 0}


def machine() -> dict:
    load1, load5, load15 = os.getloadavg()
    return {"cpus": os.cpu_count(), "loadavg": [round(load1, 2), round(load5, 2), round(load15, 2)]}
