"""`make deps` + `chalice local --stage local`, as README shows it: the stack without its API, and chalice's
own local server, run with the exact line `make deps` prints, beside it.

A user's Ctrl-C is a SIGINT to the terminal's foreground process group: the processes here are started in a
group of their own with SIGINT at its default (a shell's background jobs would ignore it), and signalled so.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from localdev.stack import ROOT, port_is_free, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def deps(tmp_path_factory):
    from tests.integration.conftest import start_stack

    where = tmp_path_factory.mktemp("deps")
    # The environment file in the test's directory, not the working tree's .env.local of whoever runs the tests.
    handle = start_stack(where, "--no-api", CHALICE_LOCAL_ENV_FILE=str(where / ".env.local"))
    yield handle
    handle.stop()


def _group(pgid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":  # pgrp, and not a zombie
                found.append(int(entry.name))
    return found


def start_chalice_local(deps, log: Path) -> subprocess.Popen:
    """The printed line, in a process group of its own with SIGINT at its default, as a terminal runs it."""
    def default_sigint():
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["CHALICE_LOCAL_ENV_FILE"] = deps.state["chalice_local_env_file"]
    process = subprocess.Popen(["bash", "-c", deps.state["chalice_local"]], cwd=ROOT, env=env,
                               stdout=open(log, "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
                               start_new_session=True, preexec_fn=default_sigint)
    return process


@pytest.fixture
def chalice_local(deps, tmp_path):
    process = start_chalice_local(deps, tmp_path / "chalice-local.log")
    url = f"http://127.0.0.1:{deps.env['PORT']}"
    wait_until(lambda: httpx.get(f"{url}/health", timeout=2).status_code == 200, 60, "chalice local")
    yield process, url
    for pid in _group(process.pid):
        os.kill(pid, signal.SIGKILL)


def test_make_deps_prints_a_short_chalice_local_line_and_writes_its_environment_to_a_private_file(deps):
    line = deps.state["chalice_local"]
    assert deps.state["api_url"] is None
    assert line.endswith(f"chalice local --stage local --port {deps.env['PORT']}")
    assert deps.state["api_key"] not in line and "=" not in line  # no variable, no secret: they are in the file

    env_file = Path(deps.state["chalice_local_env_file"])
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    written = env_file.read_text()
    assert f"AWS_ENDPOINT_URL='{deps.state['aws_endpoint_url']}'" in written
    assert deps.state["api_key"] in written
    assert "SECRET_ID" not in written  # the local stage needs no secrets: the dev key comes in API_KEYS


def test_a_post_through_chalice_local_is_sent_within_seconds(deps, chalice_local):
    _, url = chalice_local
    headers = {"X-Api-Key": deps.state["api_key"]}
    accepted = httpx.post(f"{url}/api/sms", headers=headers, json={"phone": "+14155550100", "text": "via chalice"})
    assert accepted.status_code == 202, accepted.text

    deadline = time.monotonic() + 15
    while (view := httpx.get(f"{url}/api/sms/{accepted.json()['id']}", headers=headers).json())["status"] != "sent":
        assert time.monotonic() < deadline, view
        time.sleep(0.2)
    assert view["provider_used"] in deps.simulators


def test_ctrl_c_stops_chalice_local_and_its_worker(deps, chalice_local):
    process, _ = chalice_local
    assert len(_group(process.pid)) == 2  # the reloading parent and the worker that serves

    os.killpg(process.pid, signal.SIGINT)

    wait_until(lambda: not _group(process.pid), 10, "chalice local to stop")
    assert port_is_free(int(deps.env["PORT"]))


def test_a_worker_does_not_outlive_its_parent(deps, chalice_local):
    """kill <parent> (SIGTERM, or SIGKILL) reaches the parent only; its worker notices and stops."""
    process, _ = chalice_local

    os.kill(process.pid, signal.SIGKILL)

    wait_until(lambda: not _group(process.pid), 10, "the orphaned worker to stop")
    assert port_is_free(int(deps.env["PORT"]))
