"""The provider simulators, spoken to over real HTTP on ephemeral ports."""

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from localdev.provider_simulator import MODES, ProviderSimulator, SimulatorConfig, max_in_any_window

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[3]
SHORT_TIMEOUT_S = 0.2


@pytest.fixture
def simulator():
    with ProviderSimulator(SimulatorConfig(name="alpha", latency_ms=0, jitter_ms=0, seed=7)) as running:
        yield running


@pytest.fixture
def client():
    with httpx.Client(timeout=5) as pooled:
        yield pooled


@pytest.fixture
def send(simulator, client):
    """Posts one SMS the way the gateway's http-json adapter does; each call gets a fresh idempotency key."""
    counter = iter(range(1_000_000))

    def post(body=None, idempotency_key=None, api_key=None, timeout=5.0, **httpx_kwargs):
        number = next(counter)
        headers = {"Idempotency-Key": idempotency_key or f"req-{number}-1"}
        if api_key is not None:
            headers["Authorization"] = f"Bearer {api_key}"
        if body is None and "content" not in httpx_kwargs:
            body = {"to": "+14155550100", "text": "hello", "reference": f"req-{number}"}
        return client.post(simulator.url, json=body, headers=headers, timeout=timeout, **httpx_kwargs)

    return post


def test_accepted_sms_returns_provider_prefixed_message_id(simulator, send):
    response = send()

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    message_id = response.json()["message_id"]
    assert message_id.startswith("alpha-")
    assert len(message_id.removeprefix("alpha-")) == 32
    [sent] = simulator.sent()
    assert sent["message_id"] == message_id
    assert sent["to"] == "+14155550100"


def test_arrival_records_key_reference_status_and_time(simulator, send):
    send(idempotency_key="req-42-1", body={"to": "+14155550100", "text": "hi", "reference": "req-42"})

    [arrival] = simulator.arrivals()
    assert arrival["idempotency_key"] == "req-42-1"
    assert arrival["reference"] == "req-42"
    assert arrival["status"] == 200
    assert arrival["duplicate"] is False
    assert isinstance(arrival["t"], float)


def test_api_key_is_required_when_configured(simulator, send):
    simulator.configure(api_key="secret")

    assert send().status_code == 401
    assert send(api_key="wrong").status_code == 401
    assert "error" in send(api_key="wrong").json()
    assert send(api_key="secret").status_code == 200
    assert simulator.stats()["sent"] == 1


@pytest.mark.parametrize(
    "request_body",
    [
        pytest.param({"content": b"not json"}, id="not-json"),
        pytest.param({"json": ["+14155550100", "hello"]}, id="not-an-object"),
        pytest.param({"json": {"text": "hello"}}, id="missing-to"),
        pytest.param({"json": {"to": "+14155550100"}}, id="missing-text"),
        pytest.param({"json": {"to": 14155550100, "text": "hello"}}, id="to-not-a-string"),
    ],
)
def test_malformed_body_is_a_400_json_error(simulator, client, request_body):
    response = client.post(simulator.url, headers={"Content-Type": "application/json"}, **request_body)

    assert response.status_code == 400
    assert "error" in response.json()
    assert simulator.stats()["sent"] == 0


def test_repeated_idempotency_key_returns_same_id_and_sends_once(simulator, send):
    first = send(idempotency_key="req-1-1")
    repeat = send(idempotency_key="req-1-1")
    next_attempt = send(idempotency_key="req-1-2")

    assert first.status_code == repeat.status_code == 200
    assert repeat.json()["message_id"] == first.json()["message_id"]
    assert next_attempt.json()["message_id"] != first.json()["message_id"]
    stats = simulator.stats()
    assert (stats["arrivals"], stats["sent"], stats["duplicates"]) == (3, 2, 1)
    assert [arrival["duplicate"] for arrival in simulator.arrivals()] == [False, True, False]


def test_key_of_a_failed_attempt_is_not_remembered(simulator, send):
    simulator.configure(mode="fail")
    send(idempotency_key="req-1-1")
    simulator.configure(mode="ok")

    response = send(idempotency_key="req-1-1")

    assert response.status_code == 200
    assert simulator.stats()["duplicates"] == 0


def test_arrivals_above_own_rate_limit_get_429_with_retry_after(simulator, send):
    simulator.configure(rate_limit=5)

    responses = [send() for _ in range(8)]

    assert [response.status_code for response in responses] == [200] * 5 + [429] * 3
    throttled = responses[-1]
    assert int(throttled.headers["Retry-After"]) >= 1
    assert "error" in throttled.json()
    stats = simulator.stats()
    assert stats["by_status"] == {"200": 5, "429": 3}
    assert stats["sent"] == 5


def test_keep_alive_serves_many_requests_on_one_connection(simulator, send):
    simulator.configure(rate_limit=1000)

    statuses = {send().status_code for _ in range(50)}

    assert statuses == {200}
    assert simulator.stats()["connections"] == 1


@pytest.mark.parametrize(
    ("mode", "expected_status"),
    [
        pytest.param("fail", 500, id="fail"),
        pytest.param("reject", 400, id="reject"),
        pytest.param("unauthorized", 401, id="unauthorized"),
        pytest.param("throttle", 429, id="throttle"),
    ],
)
def test_failure_mode_answers_its_status_and_sends_nothing(simulator, send, mode, expected_status):
    simulator.configure(mode=mode)

    response = send()

    assert response.status_code == expected_status
    assert "error" in response.json()
    assert simulator.stats()["sent"] == 0
    assert simulator.arrivals()[0]["status"] == expected_status


def test_reject_mode_says_invalid_number(simulator, send):
    simulator.configure(mode="reject")

    assert send().json() == {"error": "invalid number"}


def test_throttle_mode_sends_retry_after(simulator, send):
    simulator.configure(mode="throttle")

    assert send().headers["Retry-After"] == "1"


def test_garbage_mode_answers_200_with_a_body_that_is_not_json(simulator, send):
    simulator.configure(mode="garbage")

    response = send()

    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert simulator.stats()["sent"] == 0


def test_flaky_mode_fails_some_requests_with_500_or_503(simulator, send):
    simulator.configure(mode="flaky", failure_rate=0.5, rate_limit=1000)

    statuses = {send().status_code for _ in range(60)}

    assert statuses == {200, 500, 503}


@pytest.mark.parametrize("failure_rate", [0.0, 1.0])
def test_flaky_mode_at_the_extremes_never_or_always_fails(simulator, send, failure_rate):
    simulator.configure(mode="flaky", failure_rate=failure_rate)

    statuses = {send().status_code for _ in range(10)}

    assert statuses <= ({200} if failure_rate == 0.0 else {500, 503})


def test_slow_mode_outlasts_a_client_timeout(simulator, send):
    simulator.configure(mode="slow", slow_ms=1000)

    with pytest.raises(httpx.ReadTimeout):
        send(timeout=SHORT_TIMEOUT_S)


def test_slow_mode_still_answers_when_the_client_waits(simulator, send):
    simulator.configure(mode="slow", slow_ms=50)

    assert send().status_code == 200


def test_hang_mode_never_answers(simulator, send):
    simulator.configure(mode="hang")

    with pytest.raises(httpx.ReadTimeout):
        send(timeout=SHORT_TIMEOUT_S)
    [arrival] = simulator.arrivals()
    assert arrival["status"] is None


def test_hanging_request_blocks_neither_other_requests_nor_stop():
    simulator = ProviderSimulator(
        SimulatorConfig(name="beta", latency_ms=0, jitter_ms=0, mode="hang")
    ).start()
    hanging_outcome = []

    def post_and_hang():
        try:
            httpx.post(simulator.url, json={"to": "+14155550100", "text": "hi"}, timeout=10)
        except httpx.HTTPError as error:
            hanging_outcome.append(error)

    hanging_client = threading.Thread(target=post_and_hang)
    hanging_client.start()
    wait_until(lambda: simulator.stats()["arrivals"] == 1)
    assert httpx.get(f"{simulator.base_url}/_health", timeout=2).status_code == 200

    stopper = threading.Thread(target=simulator.stop)
    stopper.start()
    stopper.join(timeout=3)
    hanging_client.join(timeout=3)

    assert not stopper.is_alive()
    assert not hanging_client.is_alive()
    # The provider hung up without an answer, which the gateway sees as a connection error.
    assert isinstance(hanging_outcome[0], httpx.TransportError)


def wait_until(condition, timeout_s=3.0):
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_latency_is_applied_before_answering(simulator, send):
    simulator.configure(latency_ms=100, jitter_ms=0)

    response = send()

    assert response.elapsed.total_seconds() >= 0.1


def test_config_endpoint_changes_behaviour_at_runtime(simulator, client, send):
    response = client.post(f"{simulator.base_url}/_config", json={"mode": "fail", "rate_limit": 7})

    assert response.status_code == 200
    assert response.json()["mode"] == "fail"
    assert response.json()["rate_limit"] == 7
    assert send().status_code == 500
    assert client.get(f"{simulator.base_url}/_stats").json()["mode"] == "fail"


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"mode": "sideways"}, id="unknown-mode"),
        pytest.param({"port": 1}, id="not-changeable-at-runtime"),
        pytest.param({"failure_rate": 2}, id="rate-above-one"),
        pytest.param({"rate_limit": 0}, id="zero-rate-limit"),
        pytest.param({"latency_ms": "fast"}, id="latency-not-a-number"),
        pytest.param(["mode", "ok"], id="not-an-object"),
    ],
)
def test_config_endpoint_refuses_invalid_changes(simulator, client, changes):
    response = client.post(f"{simulator.base_url}/_config", json=changes)

    assert response.status_code == 400
    assert simulator.config.mode == "ok"


def test_stats_arrivals_and_reset_endpoints(simulator, client, send):
    send(idempotency_key="req-1-1")
    send(idempotency_key="req-1-1")
    base_url = simulator.base_url

    stats = client.get(f"{base_url}/_stats").json()
    assert stats == {
        "name": "alpha",
        "arrivals": 2,
        "sent": 1,
        "duplicates": 1,
        "by_status": {"200": 2},
        "max_in_any_1s": 2,
        "kind": "http-json",
        "mode": "ok",
        "connections": 1,
    }
    assert len(client.get(f"{base_url}/_arrivals").json()) == 2
    assert len(client.get(f"{base_url}/_sent").json()) == 1

    assert client.post(f"{base_url}/_reset").status_code == 200
    assert client.get(f"{base_url}/_arrivals").json() == []
    assert send(idempotency_key="req-1-1").json()["message_id"] != ""
    assert simulator.stats()["duplicates"] == 0


def test_health_and_unknown_paths(simulator, client):
    assert client.get(f"{simulator.base_url}/_health").status_code == 200
    assert client.get(f"{simulator.base_url}/nope").status_code == 404


def test_invalid_config_is_refused_at_construction():
    with pytest.raises(ValueError, match="mode"):
        SimulatorConfig(name="alpha", mode="sideways")


def test_every_documented_mode_exists():
    assert {"ok", "fail", "flaky", "slow", "hang", "garbage", "reject", "unauthorized", "throttle", "error",
                     "partial", "drip"} == MODES


def test_cli_runs_many_simulators_and_exits_cleanly_on_sigterm():
    many = json.dumps(
        [{"name": "alpha", "port": 0, "latency_ms": 0}, {"name": "beta", "port": 0, "api_key": "k"}]
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "localdev.provider_simulator", "--many", many],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [process.stdout.readline() for _ in range(2)]
        urls = {line.split()[2]: line.split()[-1] for line in lines}
        assert set(urls) == {"alpha", "beta"}
        assert httpx.post(urls["alpha"], json={"to": "+14155550100", "text": "hi"}).status_code == 200
        assert httpx.post(urls["beta"], json={"to": "+14155550100", "text": "hi"}).status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        return_code = process.wait(timeout=5)
        process.stdout.close()

    assert return_code == 0


@pytest.mark.parametrize(
    ("timestamps", "expected"),
    [
        pytest.param([], 0, id="empty"),
        pytest.param([5.0], 1, id="single"),
        pytest.param([0.0, 1.0], 1, id="exactly-one-second-apart-are-different-windows"),
        pytest.param([0.0, 0.999, 1.0], 2, id="just-inside-the-window"),
        pytest.param([0.0, 0.0, 0.0], 3, id="identical-times"),
        pytest.param([3.0, 0.5, 1.2, 0.9, 2.0], 3, id="unsorted"),
        pytest.param([0.0, 0.5, 1.0, 1.5, 2.0, 2.5], 2, id="steady-two-per-second"),
        pytest.param([0.1 * i for i in range(10)] + [5.0], 10, id="burst-then-quiet"),
    ],
)
def test_max_in_any_window_on_hand_made_cases(timestamps, expected):
    assert max_in_any_window(timestamps) == expected


def test_max_in_any_window_honours_the_window_length():
    assert max_in_any_window([0.0, 0.4, 0.8], window_s=0.5) == 2
    with pytest.raises(ValueError):
        max_in_any_window([1.0], window_s=0)


def brute_force_max_in_any_window(timestamps, window_s):
    return max(
        (sum(1 for t in timestamps if start <= t < start + window_s) for start in timestamps), default=0
    )


# Quarter seconds are exact in binary, so this strategy lands many timestamps exactly on window boundaries.
boundary_times = st.integers(min_value=0, max_value=40).map(lambda quarters: quarters / 4)
any_times = st.floats(min_value=0, max_value=10, allow_nan=False, allow_infinity=False)


@given(
    timestamps=st.lists(st.one_of(boundary_times, any_times), max_size=60),
    window_s=st.sampled_from([0.25, 0.5, 1.0, 1.3]),
)
def test_max_in_any_window_matches_brute_force(timestamps, window_s):
    assert max_in_any_window(timestamps, window_s) == brute_force_max_in_any_window(timestamps, window_s)


def test_interim_receipts_put_an_intermediate_receipt_before_each_final_one(simulator, send):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{sock.getsockname()[1]}/webhooks/alpha"
    simulator.configure(receipt_url=nowhere, receipt_delay_s=60, receipt_jitter_s=0, interim_receipts=True)
    message_id = send().json()["message_id"]
    assert [(r["message_id"], r.get("interim", False)) for r in simulator.receipts()] == [(message_id, True),
                                                                                         (message_id, False)]
