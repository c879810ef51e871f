"""API keys: kept and compared as SHA-256 hashes, in constant time.

Locally the keys come from ``API_KEYS``; on AWS from a Secrets Manager secret named by
``API_KEYS_SECRET_ID`` (a JSON list of keys, or a comma-separated string).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable

from chalicelib.errors import Unauthorized


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyAuthenticator:
    def __init__(self, keys: Iterable[str]):
        self._hashes = tuple(key_hash(key) for key in keys)

    @classmethod
    def from_secret(cls, secret_string: str) -> ApiKeyAuthenticator:
        try:
            keys = json.loads(secret_string)
        except ValueError:
            keys = secret_string.split(",")
        if isinstance(keys, dict):
            keys = keys.get("api_keys", [])
        return cls(str(k).strip() for k in keys if str(k).strip())

    def authenticate(self, presented: str | None) -> str:
        """The client's id (a short prefix of its key's hash), or Unauthorized."""
        if not presented:
            raise Unauthorized("missing X-Api-Key header", field="X-Api-Key", code="missing_api_key")
        candidate = key_hash(presented)
        matched = False
        for stored in self._hashes:  # every stored hash is compared: the time does not say which matched
            matched |= hmac.compare_digest(candidate, stored)
        if not matched:
            raise Unauthorized("invalid API key", field="X-Api-Key", code="invalid_api_key")
        return candidate[:16]
