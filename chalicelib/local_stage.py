"""The local stage (STAGE=local): a developer's machine, where the gateway may take defaults no deployment may.

Its one default the Lambda code needs: the providers when SMS_PROVIDERS is empty. It lives here, in the code
``chalice local`` runs, not in localdev/ (which starts the simulators): chalicelib never imports tooling, and
a bare ``chalice local`` (no ``make run``, no .env) must still find providers, and the alternative (the local
stage of .chalice/config.json setting SMS_PROVIDERS) would override the simulators ``make run`` starts. ``make
run`` always sets SMS_PROVIDERS to the simulators it starts; localdev/stack.py leaves it out of the env file it
writes for ``chalice local`` when it equals this default.
"""

from __future__ import annotations

LOCAL_STAGE = "local"
# Three http-json providers on 127.0.0.1:9001-9003: only ever the default in the local stage.
LOCAL_STAGE_PROVIDERS = (
    {"name": "alpha", "url": "http://127.0.0.1:9001/send", "rate_limit": 50, "weight": 1},
    {"name": "beta", "url": "http://127.0.0.1:9002/send", "rate_limit": 50, "weight": 1},
    {"name": "gamma", "url": "http://127.0.0.1:9003/send", "rate_limit": 50, "weight": 1},
)
