"""The integration tier against LocalStack's SQS (its runtime without Docker, Python 3.13 from pyenv),
with DynamoDB from moto: the same stack, the same code path, another SQS.

LocalStack's DynamoDB needs Java and a download (offline here), so only SQS comes from LocalStack.
localstack/run-localstack.sh installs localstack-core into .localstack-venv on first use (~40 s).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess

import httpx
import pytest

from localdev.stack import ROOT, free_port

pytestmark = pytest.mark.integration


def _python313_available() -> bool:
    root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip() if shutil.which(
        "pyenv") else os.path.expanduser("~/.pyenv")
    return bool(glob.glob(f"{root}/versions/3.13.*/bin/python")) or bool(shutil.which("python3.13"))


@pytest.fixture(scope="module")
def localstack_sqs(tmp_path_factory):
    if not _python313_available():
        pytest.skip("LocalStack's runtime needs Python 3.13 (pyenv install 3.13); moto serves SQS instead")
    port = free_port()
    env = {**os.environ, "LOCALSTACK_PORT": str(port),
           "LOCALSTACK_DATA_DIR": str(tmp_path_factory.mktemp("localstack"))}
    started = subprocess.run(["bash", "localstack/run-localstack.sh"], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=600)
    assert started.returncode == 0, started.stderr[-3000:]
    yield f"http://127.0.0.1:{port}"
    subprocess.run(["bash", "localstack/run-localstack.sh", "stop"], cwd=ROOT, env=env, timeout=60)


@pytest.fixture(scope="module")
def stack_env(localstack_sqs):
    return {"AWS_ENDPOINT_URL_SQS": localstack_sqs}


def test_the_dispatch_queue_lives_in_localstack(stack, localstack_sqs):
    health = httpx.get(f"{localstack_sqs}/_localstack/health", timeout=10).json()
    assert health["services"]["sqs"] in ("available", "running")
    queues = httpx.post(localstack_sqs, data={"Action": "ListQueues"}, timeout=10,
                        headers={"Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sqs/"
                                                  "aws4_request, SignedHeaders=host, Signature=0"})
    assert "sms-dispatch" in queues.text


def test_sms_is_sent_through_localstack_sqs(fresh_stack):
    request_id = fresh_stack.send(text="via LocalStack SQS")

    view = fresh_stack.wait_terminal([request_id], timeout_s=60)[request_id]

    assert view["status"] == "sent"
    sends = [s for name in fresh_stack.simulators for s in fresh_stack.sent(name)]
    assert [s["reference"] for s in sends] == [request_id]


def test_retry_with_delay_seconds_works_on_localstack_sqs(fresh_stack):
    fresh_stack.configure("alpha", mode="fail")
    fresh_stack.configure("beta", mode="fail")
    ids = [fresh_stack.send(text=f"retry via LocalStack {i}") for i in range(3)]

    views = fresh_stack.wait_terminal(ids, timeout_s=60)

    for view in views.values():
        assert view["status"] == "sent"
        assert view["provider_used"] == "gamma"
