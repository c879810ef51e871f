"""What a newcomer copies from the first screens: the banner's commands whole (never wrapped inside its box),
a short `chalice local` line that carries no secret (the stack's environment is in a private file the local
stage reads), and a README that says where $KEY comes from and which ports to move."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest

from localdev.chalice_local import load_stack_environment
from localdev.stack import ROOT, chalice_local_command, print_banner, write_chalice_local_env

pytestmark = pytest.mark.unit

KEY = "dev-" + "k" * 32
API_URL = "http://127.0.0.1:8000"


def a_stack(tmp_path: Path, api_url: str | None = API_URL, **env: str) -> SimpleNamespace:
    return SimpleNamespace(
        started=["AWS emulator (moto)     http://127.0.0.1:5055", "Redis (existing)        redis://127.0.0.1:6379/0"],
        env={"API_KEYS": KEY, "STAGE": "local", "CHALICE_LOCAL_ENV_FILE": str(tmp_path / ".env.local"), **env},
        api_url=api_url, ready_after_s=1.5, log_dir=tmp_path / "logs", state_file=tmp_path / "stack.json")


@pytest.mark.parametrize("columns", [40, 80, 200])
def test_the_banner_prints_the_try_it_commands_whole_at_any_terminal_width(tmp_path, capsys, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))  # what rich takes as the width when stdout is no terminal

    print_banner(a_stack(tmp_path))

    printed = capsys.readouterr().out.splitlines()
    assert f"export KEY={KEY}" in printed  # where the README's $KEY comes from
    curl = [line for line in printed if line.startswith("curl ")]
    assert len(curl) == 1 and curl[0].endswith("""-d '{"phone": "+14155550100", "text": "hello"}'"""), printed
    assert f"{API_URL}/api/sms" in curl[0] and '"X-Api-Key: $KEY"' in curl[0]


def test_make_deps_prints_a_short_chalice_local_line_without_secrets(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    stack = a_stack(tmp_path, api_url=None, AWS_ENDPOINT_URL="http://127.0.0.1:5055", PORT="8010")

    print_banner(stack)

    last = capsys.readouterr().out.splitlines()[-1]
    assert last == chalice_local_command(8010)
    assert last.endswith("chalice local --stage local --port 8010") and len(last) < 80
    assert KEY not in last and "AWS_ENDPOINT_URL" not in last


def test_the_chalice_local_environment_is_private_and_reads_back_exactly(tmp_path):
    providers = json.dumps([{"name": "alpha", "url": "http://127.0.0.1:9001/send",
                             "api_key": "it's a $ecret \\ with \"quotes\""}])
    stack = a_stack(tmp_path, api_url=None, AWS_ENDPOINT_URL="http://127.0.0.1:5055", AWS_ACCESS_KEY_ID="testing",
                    SMS_PROVIDERS=providers, REDIS_URL="redis://127.0.0.1:6390/0")

    path = write_chalice_local_env(stack)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    environ = {"STAGE": "local", "CHALICE_LOCAL_ENV_FILE": str(path), "AWS_ENDPOINT_URL": "http://elsewhere"}
    assert load_stack_environment(environ) == path
    assert environ["SMS_PROVIDERS"] == providers  # quotes, backslash and $ as they were
    assert (environ["API_KEYS"], environ["REDIS_URL"]) == (KEY, "redis://127.0.0.1:6390/0")
    assert environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5055"  # the running stack's, as the old line's was


def test_an_older_env_file_becomes_private_too(tmp_path):
    old = tmp_path / ".env.local"
    old.write_text("API_KEYS=stale\n")
    old.chmod(0o644)

    write_chalice_local_env(a_stack(tmp_path, api_url=None))

    assert stat.S_IMODE(old.stat().st_mode) == 0o600 and "stale" not in old.read_text()


def test_only_the_local_stage_reads_the_stack_environment(tmp_path):
    path = write_chalice_local_env(a_stack(tmp_path, api_url=None))
    environ = {"STAGE": "dev", "CHALICE_LOCAL_ENV_FILE": str(path)}

    assert load_stack_environment(environ) is None
    assert "API_KEYS" not in environ


def test_the_env_file_is_git_ignored():
    assert ".env.local" in (ROOT / ".gitignore").read_text().splitlines()


def test_the_readme_says_where_key_comes_from_and_which_ports_to_move():
    readme = (ROOT / "README.md").read_text()
    first_use = readme.index("$KEY")
    assert "export KEY=" in readme[:first_use]
    for variable in ("PORT", "MOTO_PORT", "SIM_BASE_PORT"):
        assert re.search(rf"`{variable}=\d+", readme), variable
    assert "xdg-open" in readme
    assert not re.search(r"^open http", readme, re.MULTILINE)  # macOS only


def test_stopping_make_deps_removes_the_env_file(tmp_path):
    from localdev.stack import LocalStack

    stack = LocalStack(env={"CHALICE_LOCAL_ENV_FILE": str(tmp_path / ".env.local"),
                            "STACK_STATE_FILE": str(tmp_path / "stack.json"), "API_KEYS": KEY})
    path = stack.chalice_local_env = write_chalice_local_env(stack)  # as start(api=False) does

    stack.stop()

    assert not path.exists()
