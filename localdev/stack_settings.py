"""The local stack's own settings (`make run`), declared once like the gateway's (chalicelib/settings.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from chalicelib.settings import env


class StackSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    aws_endpoint_url: str = env("AWS_ENDPOINT_URL", "", "AWS emulator endpoint (unset on AWS). Empty = the local "
                                "stack starts moto server and sets it. AWS_ENDPOINT_URL_SQS / "
                                "AWS_ENDPOINT_URL_DYNAMODB point one service elsewhere (e.g. LocalStack's SQS).")
    moto_port: int = env("MOTO_PORT", 5055, "Port of the moto server the stack starts (a free one is taken if "
                         "busy).", ge=1, le=65535)
    sim_base_port: int = env("SIM_BASE_PORT", 9001, "First port of the three simulators, their rate limit, "
                             "latency, weights and the gateway's timeout for them.", ge=1, le=65533)
    sim_rate_limit: int = env("SIM_RATE_LIMIT", 50, "", ge=1, le=100_000)
    sim_latency_ms: float = env("SIM_LATENCY_MS", 20.0, "", ge=0, le=60_000)
    sim_weights: str = env("SIM_WEIGHTS", "1,1,1", "", pattern=r"^\d+,\d+,\d+$")
    sim_timeout_s: float = env("SIM_TIMEOUT_S", 5.0, "", gt=0, le=60)
    dispatcher_processes: int = env("DISPATCHER_PROCESSES", 2, "Queue emulation: dispatcher processes, concurrent "
                                    "invocations per process, batch size and window.", ge=1, le=64)
    dispatch_concurrency: int = env("DISPATCH_CONCURRENCY", 4, "", ge=1, le=256)
    dispatch_batch_size: int = env("DISPATCH_BATCH_SIZE", 10, "", ge=1, le=10)
    dispatch_batch_window_s: float = env("DISPATCH_BATCH_WINDOW_S", 1.0, "", ge=0, le=20)
    dispatch_visibility_timeout_s: int = env("DISPATCH_VISIBILITY_TIMEOUT_S", 30, "Visibility timeout of the local "
                                             "dispatch queue and receives before a message goes to the DLQ.",
                                             ge=1, le=43200)
    dlq_max_receive_count: int = env("DLQ_MAX_RECEIVE_COUNT", 5, "", ge=1, le=1000)
    schedule_interval_s: float = env("SCHEDULE_INTERVAL_S", 60.0, "How often the scheduled functions (sweeper, "
                                     "health snapshot) run locally, in seconds.", gt=0, le=3600)

    @classmethod
    def from_env(cls, environ: dict[str, str]) -> StackSettings:
        return cls.model_validate({name: value for name, value in environ.items() if value})

    @property
    def weights(self) -> list[int]:
        return [int(weight) for weight in self.sim_weights.split(",")]
