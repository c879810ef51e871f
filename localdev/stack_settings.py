"""The local stack's own settings (`make run`), declared once like the gateway's (chalicelib/settings.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_validator

from chalicelib.policies import env
from chalicelib.vendors import KINDS

SIMULATOR_KINDS = tuple(kind.name for kind in KINDS)  # localdev/simulators/<kind>.py each
# What the routing tests, the chaos runner and the benchmark run on: three http-json providers. They test
# routing, health, retries and "never sent twice", which they audit per request id through the http-json
# `reference` and Idempotency-Key; the vendors' wire formats carry neither (Twilio has no client reference,
# none of the three deduplicates), and the vendor kinds have their own tests.
HTTP_JSON_TRIO = "alpha=http-json,beta=http-json,gamma=http-json"


class StackSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    aws_endpoint_url: str = env("AWS_ENDPOINT_URL", "", "AWS emulator endpoint (unset on AWS). Empty = the local "
                                "stack starts moto server and sets it. AWS_ENDPOINT_URL_SQS / "
                                "AWS_ENDPOINT_URL_DYNAMODB point one service elsewhere (e.g. LocalStack's SQS).")
    moto_port: int = env("MOTO_PORT", 5055, "Port of the moto server the stack starts (a free one is taken if "
                         "busy).", ge=1, le=65535)
    sim_kinds: str = env("SIM_KINDS", "twilio,vonage,aws,http-json", "The provider simulators the stack starts "
                         "when SMS_PROVIDERS is empty, comma-separated: a kind (twilio, vonage, aws, http-json), named "
                         "after it (http-json: http; a repeat gets -2, -3), or name=kind, e.g. "
                         "alpha=http-json,beta=http-json,gamma=http-json.", pattern=r"^[a-z0-9=_,-]+$")
    sim_base_port: int = env("SIM_BASE_PORT", 9001, "First port of the simulators (one each from there), their "
                             "rate limit, latency, weights (one per simulator, empty = 1 each) and the gateway's "
                             "timeout for them.", ge=1, le=65000)
    sim_rate_limit: int = env("SIM_RATE_LIMIT", 50, "", ge=1, le=100_000)
    sim_latency_ms: float = env("SIM_LATENCY_MS", 20.0, "", ge=0, le=60_000)
    sim_weights: str = env("SIM_WEIGHTS", "", "", pattern=r"^(\d+(,\d+)*)?$")
    sim_timeout_s: float = env("SIM_TIMEOUT_S", 5.0, "", gt=0, le=60)
    sim_receipt_delay_s: float = env("SIM_RECEIPT_DELAY_S", 1.0, "Delivery receipts from the simulators: each "
                                     "leaves SIM_RECEIPT_DELAY_S to SIM_RECEIPT_DELAY_S + SIM_RECEIPT_JITTER_S "
                                     "seconds after the send, in the vendor's format and signature, to the "
                                     "gateway's /webhooks/<name> (aws: onto the delivery-events queue); "
                                     "SIM_UNDELIVERED_SHARE of them say undelivered. A negative delay: no receipts.",
                                     ge=-1, le=3600)
    sim_receipt_jitter_s: float = env("SIM_RECEIPT_JITTER_S", 1.0, "", ge=0, le=3600)
    sim_undelivered_share: float = env("SIM_UNDELIVERED_SHARE", 0.0, "", ge=0, le=1)
    dispatcher_processes: int = env("DISPATCHER_PROCESSES", 2, "Queue emulation: dispatcher processes, concurrent "
                                    "invocations per process, batch size and window.", ge=1, le=64)
    dispatch_concurrency: int = env("DISPATCH_CONCURRENCY", 4, "", ge=1, le=256)
    dispatch_batch_size: int = env("DISPATCH_BATCH_SIZE", 10, "", ge=1, le=10)
    dispatch_batch_window_s: float = env("DISPATCH_BATCH_WINDOW_S", 1.0, "", ge=0, le=20)
    dispatch_visibility_timeout_s: int = env("DISPATCH_VISIBILITY_TIMEOUT_S", 30, "Visibility timeout of the local "
                                             "dispatch queue and receives before a message goes to the DLQ.",
                                             ge=1, le=43200)
    dlq_max_receive_count: int = env("DLQ_MAX_RECEIVE_COUNT", 5, "", ge=1, le=1000)
    callback_receiver_port: int = env("CALLBACK_RECEIVER_PORT", 9100, "Port of the local status-callback receiver "
                                      "(the dev client's default callback URL; a free one is taken if busy).",
                                      ge=1, le=65535)
    chalice_local_env_file: str = env("CHALICE_LOCAL_ENV_FILE", ".env.local", "Where `make deps` writes the "
                                      "environment that `chalice local --stage local` reads (relative to the "
                                      "project; mode 0600: it holds the dev API key and the simulators' secrets).",
                                      min_length=1)
    iam_enforce: bool = env("IAM_ENFORCE", True, "Each function (API, dispatchers, delivery events, callbacks, "
                            "the scheduled ones) runs under its own IAM policy, as on AWS: a call its "
                            ".chalice/policy-*.json does not grant is refused (AccessDenied) and logged "
                            "`iam: ... denied` (localdev/iam_policies.py). The queues' URLs are given to the "
                            "functions, as on AWS.")
    schedule_interval_s: float = env("SCHEDULE_INTERVAL_S", 60.0, "How often the scheduled functions (sweeper, "
                                     "health snapshot) run locally, in seconds.", gt=0, le=3600)

    @model_validator(mode="after")
    def _one_weight_per_simulator(self) -> StackSettings:
        simulators = self.simulators  # an unknown kind or a repeated name is refused here, by name
        if self.sim_weights and len(self.weights) != len(simulators):
            raise ValueError(f"SIM_WEIGHTS has {len(self.weights)} weights for {len(simulators)} simulators")
        return self

    @classmethod
    def from_env(cls, environ: dict[str, str]) -> StackSettings:
        return cls.model_validate({name: value for name, value in environ.items() if value})

    @property
    def simulators(self) -> list[tuple[str, str]]:
        """(name, kind) of each simulator SIM_KINDS asks for."""
        chosen: list[tuple[str, str]] = []
        for item in self.sim_kinds.split(","):
            name, _, kind = item.rpartition("=")
            if kind not in SIMULATOR_KINDS:
                raise ValueError(f"SIM_KINDS: unknown kind {kind!r} (known: {', '.join(SIMULATOR_KINDS)})")
            if not name:
                base = "http" if kind == "http-json" else kind
                taken = sum(1 for other, _ in chosen if other == base or other.startswith(f"{base}-"))
                name = base if not taken else f"{base}-{taken + 1}"
            chosen.append((name, kind))
        if len({name for name, _ in chosen}) != len(chosen):
            raise ValueError("SIM_KINDS names a simulator twice")
        return chosen

    @property
    def weights(self) -> list[int]:
        if not self.sim_weights:
            return [1] * len(self.simulators)
        return [int(weight) for weight in self.sim_weights.split(",")]
