"""Provider credentials: from the entry itself (locally, SMS_PROVIDERS is the environment), or from
Secrets Manager on AWS, read again once they are older than PROVIDER_SECRET_MAX_AGE_S so a rotated
secret is picked up without a redeploy.

Where a provider's credential fields come from, later ones winning:

    1. its SMS_PROVIDERS entry                     (local, tests; never in config.json)
    2. its entry in the PROVIDER_KEYS_SECRET_ID secret: {"<name>": {"auth_token": ...}} or
       {"<name>": "<key>"} (http-json's api_key)   (one secret for every provider)
    3. the secret named by the entry's secret_id: {"auth_token": ...}

A cached secret lives ``max_age_s``; after that the next send reads it again. When Secrets Manager does not
answer, the last value read keeps being used (an outage must not stop sending). A provider whose
credentials were refused gets its secret read again before its next send (``invalidate``), at most once
every ``min_refresh_s`` so that a provider with bad credentials does not hammer Secrets Manager.

Values never reach a log or an error message: errors name the provider, the secret id and the field.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.logs import logger

# Secrets Manager answers that no retry will change: the secret is gone (or scheduled for deletion), its key or
# the permission to read or decrypt it is wrong. Every other failure is an outage (read again later).
CONFIGURATION_CODES = frozenset({"ResourceNotFoundException", "AccessDeniedException", "DecryptionFailure",
                                 "InvalidRequestException", "InvalidParameterException",
                                 "UnrecognizedClientException"})


class SecretUnavailable(Exception):
    def __init__(self, message: str, *, configuration_problem: bool, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.configuration_problem = configuration_problem
        self.code = code  # Secrets Manager's error code, or the client error's type


@contextmanager
def secret_errors(secret_id: str) -> Iterator[None]:
    """Secrets Manager's errors, mapped once for every secret the gateway reads (the providers' and the client
    registry's): SecretUnavailable, a configuration problem when no retry changes the answer."""
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise SecretUnavailable(f"secret {secret_id!r} unreadable ({code})", code=code,
                                configuration_problem=code in CONFIGURATION_CODES) from None
    except BotoCoreError as exc:
        raise SecretUnavailable(f"Secrets Manager unavailable ({type(exc).__name__})", code=type(exc).__name__,
                                configuration_problem=False) from None


@dataclass
class _Cached:
    value: dict
    read_at: float


class SecretCache:
    """Secrets Manager secrets (JSON objects) by id, each read again once older than ``max_age_s``."""

    def __init__(self, fetch: Callable[[str], str], *, max_age_s: float, min_refresh_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic):
        self._fetch = fetch
        self._max_age_s = max_age_s
        self._min_refresh_s = min(min_refresh_s, max_age_s)
        self._clock = clock
        self._cached: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    def get(self, secret_id: str) -> dict:
        with self._lock:  # one read at a time: threads waiting for the same secret get the fresh copy
            cached = self._cached.get(secret_id)
            if cached is not None and self._clock() - cached.read_at < self._max_age_s:
                return cached.value
            try:
                value = self._read(secret_id)
            except SecretUnavailable as exc:
                if cached is None or exc.configuration_problem:
                    raise
                logger.warning("secret not refreshed, using the copy read before", extra={"secret_id": secret_id,
                                                                                           "error": exc.message})
                cached.read_at = self._clock() - self._max_age_s + self._min_refresh_s  # try again soon
                return cached.value
            self._cached[secret_id] = _Cached(value, self._clock())
            return value

    def invalidate(self, secret_id: str) -> None:
        """Read it again on the next ``get``, unless it was read less than ``min_refresh_s`` ago."""
        with self._lock:
            cached = self._cached.get(secret_id)
            if cached is not None and self._clock() - cached.read_at >= self._min_refresh_s:
                del self._cached[secret_id]

    def _read(self, secret_id: str) -> dict:
        with secret_errors(secret_id):
            raw = self._fetch(secret_id)
        try:
            value = json.loads(raw)
        except (TypeError, ValueError):
            value = None
        if not isinstance(value, dict):
            raise SecretUnavailable(f"secret {secret_id!r} is not a JSON object", configuration_problem=True)
        return value


class SecretSource(Protocol):
    """The credential fields of one provider."""

    def get(self) -> dict[str, str]: ...

    def invalidate(self) -> None: ...


class ProviderSecrets:
    def __init__(self, config, *, cache: SecretCache | None, shared_secret_id: str | None):
        self._config = config
        self._cache = cache
        self._shared_secret_id = shared_secret_id or None
        self._inline = {name: getattr(config, name) for name in config.SECRET_FIELDS
                        if getattr(config, name) is not None}

    def get(self) -> dict[str, str]:
        values = dict(self._inline)
        if self._cache is not None and self._shared_secret_id:
            values.update(self._entry_of_shared_secret(self._read(self._shared_secret_id)))
        if self._cache is not None and self._config.secret_id:
            values.update(self._fields(self._read(self._config.secret_id), self._config.secret_id))
        missing = self._config.missing_secrets(frozenset(values))
        if missing:
            where = self._config.secret_id or self._shared_secret_id or "the SMS_PROVIDERS entry"
            raise SecretUnavailable(f"provider {self.name!r}: {', '.join(missing)} missing (looked in {where})",
                                    configuration_problem=True)
        return values

    def invalidate(self) -> None:
        if self._cache is None:
            return
        for secret_id in (self._shared_secret_id, self._config.secret_id):
            if secret_id:
                self._cache.invalidate(secret_id)

    @property
    def name(self) -> str:
        return self._config.name

    def _read(self, secret_id: str) -> dict:
        try:
            return self._cache.get(secret_id)
        except SecretUnavailable as exc:
            raise SecretUnavailable(f"provider {self.name!r}: {exc.message}",
                                    configuration_problem=exc.configuration_problem) from None

    def _entry_of_shared_secret(self, shared: Mapping) -> dict[str, str]:
        entry = shared.get(self.name)
        if entry is None:
            return {}
        if isinstance(entry, str):  # the shorthand {"alpha": "<api_key>"} of http-json providers
            return self._fields({"api_key": entry}, self._shared_secret_id)
        if isinstance(entry, dict):
            return self._fields(entry, self._shared_secret_id)
        raise SecretUnavailable(f"provider {self.name!r}: its entry in secret {self._shared_secret_id!r} is not a "
                                "string or an object", configuration_problem=True)

    def _fields(self, values: Mapping, secret_id: str | None) -> dict[str, str]:
        known = set(self._config.SECRET_FIELDS)
        fields = {}
        for field, value in values.items():
            if field not in known:
                raise SecretUnavailable(f"provider {self.name!r}: secret {secret_id!r} has field {field!r}; "
                                        f"{self._config.kind} takes {sorted(known)}", configuration_problem=True)
            if not isinstance(value, str) or not value:
                raise SecretUnavailable(f"provider {self.name!r}: field {field!r} of secret {secret_id!r} must be a "
                                        "non-empty string", configuration_problem=True)
            fields[field] = value
        return fields
