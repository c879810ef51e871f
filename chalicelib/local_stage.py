"""The local stage (STAGE=local): a developer's machine, where the gateway may take defaults no deployment may.

Its one default the Lambda code needs: the providers when SMS_PROVIDERS is empty. It lives here, in the code
``chalice local`` runs, not in localdev/ (which starts the simulators): chalicelib never imports tooling, and
a bare ``chalice local`` (no ``make run``, no .env) must still find providers. ``make run`` always sets
SMS_PROVIDERS to the simulators it starts; with SIM_KINDS=alpha=http-json,beta=http-json,gamma=http-json they
are these three, and localdev/stack.py leaves the variable out of the env file it writes (tests pin that).
"""

from __future__ import annotations

LOCAL_STAGE = "local"
# Three http-json providers on 127.0.0.1:9001-9003: only ever the default in the local stage.
LOCAL_STAGE_PROVIDERS = (
    {"name": "alpha", "url": "http://127.0.0.1:9001/send", "rate_limit": 50, "weight": 1},
    {"name": "beta", "url": "http://127.0.0.1:9002/send", "rate_limit": 50, "weight": 1},
    {"name": "gamma", "url": "http://127.0.0.1:9003/send", "rate_limit": 50, "weight": 1},
)
