"""Schemathesis against the running local stack, from the /openapi.json it serves: every check and every
phase (examples, coverage, fuzzing, stateful). So no input produces a 5xx, every answer matches the
document (status, content type, headers, body), every request the document allows is accepted (2xx, or
the documented 404/409/422), every request it forbids is refused with a 4xx, an undeclared method gets a
405 with Allow, and what POST /api/sms creates can be read back through the link the document declares.

schemathesis.toml beside this file holds the run's configuration (the `phone` format's generator, the one
status the positive check also accepts, and why). Budget: SCHEMATHESIS_MAX_EXAMPLES per operation (10 in
the suite, with a fixed seed so a failure reproduces; `make fuzz` runs 200 with a random one). The
coverage phase does not depend on it: it sends each boundary case once (about a minute, mostly
GET /api/sms, which queries 31 day partitions in moto per call).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
MAX_EXAMPLES = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "10")
SEED = os.environ.get("SCHEMATHESIS_SEED", "16")


@pytest.fixture(scope="module")
def stack_env():
    # Fuzzed sends reach the simulators; keep them from tripping health or hitting rate limits for later tests.
    return {"HEALTH_MIN_SAMPLES": "1000000", "HEALTH_FAILURE_STREAK": "0", "SIM_RATE_LIMIT": "1000"}


def test_every_check_and_phase_of_schemathesis_passes(stack, tmp_path):
    api = stack.state["api_url"]
    seed = ["--seed", SEED] if SEED else []
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file", str(HERE / "schemathesis.toml"), "run",
         f"{api}/openapi.json", "--url", api, "--checks", "all", "--phases", "examples,coverage,fuzzing,stateful",
         "--max-examples", MAX_EXAMPLES, *seed, "--workers", "1", "--request-timeout", "30",
         "--generation-database", "none", "--no-color", "-H", f"X-Api-Key: {stack.state['api_key']}"],
        cwd=HERE.parents[1], capture_output=True, text=True, timeout=1200,
        env={**os.environ, "PYTHONPATH": str(HERE.parents[1])},
    )
    (tmp_path / "schemathesis.log").write_text(run.stdout + run.stderr)

    summary = run.stdout[run.stdout.rfind("SUMMARY"):]
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in summary, summary  # each phase ran, and passed
