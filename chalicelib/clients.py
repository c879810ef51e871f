"""The client registry: who may call the API, with which limits, and what each client may send.

One JSON document describes every client. On AWS it is a Secrets Manager secret (``API_KEYS_SECRET_ID``):
a handful of teams share a gateway, the document is small, Secrets Manager versions and audits every
change, and the API re-reads it at most every ``CLIENTS_MAX_AGE_S`` seconds, so a new key or client takes
effect within a minute without a redeploy. Locally the same document may come from ``CLIENTS``, and
``API_KEYS`` (comma-separated keys) still works: each key is a client of its own with the default limits.

    {"cursor_key": "<random, signs list cursors>",
     "clients": {"team-a": {"key_hashes": ["sha256:<hex of sha256(key)>", ...],
                            "roles": ["send", "operator"], "rate_limit": 20, "daily_quota": 10000,
                            "senders": ["ACME"], "countries": ["US", "GB"], "callback_secret": "...",
                            "callback_url": "https://team-a.example/sms-status"}}}

Only hashes of keys are stored. Keys are random strings of at least 32 characters (``ops.clients``
makes them), so one SHA-256 is enough: there is nothing to brute-force. The document is validated
strictly: a malformed one refuses service (ConfigurationError, 503) rather than load part of a key list.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from chalicelib.callbacks.targets import check_callback_url_syntax
from chalicelib.errors import ConfigurationError, Forbidden, Unauthorized, ValidationFailed
from chalicelib.logs import logger

MIN_KEY_CHARS = 32
KEY_HASH_PREFIX = "sha256:"
Role = Literal["send", "operator"]
ClientName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
KeyHash = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
# A sender id: an E.164 number, or up to 11 letters, digits and spaces (what networks pass as alphanumeric).
SenderId = Annotated[str, StringConstraints(pattern=r"^(\+[1-9][0-9]{6,14}|[A-Za-z0-9 ]{1,11})$")]


def key_hash(key: str) -> str:
    return KEY_HASH_PREFIX + hashlib.sha256(key.encode()).hexdigest()


class ClientEntry(BaseModel):
    """One client in the registry document."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_hashes: tuple[KeyHash, ...] = Field(min_length=1, max_length=10)
    roles: tuple[Role, ...] = ("send",)
    rate_limit: int | None = Field(default=None, ge=1, le=100_000, description="requests/s; None = the default")
    daily_quota: int | None = Field(default=None, ge=1, le=10**9, description="requests per UTC day")
    senders: tuple[SenderId, ...] = ()  # its own: with the providers' configured ones, the only `from` it may give
    countries: tuple[Country, ...] = ()  # empty: any destination country
    callback_secret: str | None = Field(default=None, min_length=16, max_length=256, repr=False)
    # Where the client's status callbacks go when a request names no callback_url of its own.
    callback_url: str | None = Field(default=None, min_length=1, max_length=2048)


class RegistryDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cursor_key: str | None = Field(default=None, min_length=32, repr=False)
    clients: dict[ClientName, ClientEntry] = Field(min_length=1)


@dataclass(frozen=True)
class Client:
    """An authenticated caller."""

    name: str
    roles: frozenset[str]
    rate_limit: int
    daily_quota: int
    senders: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    callback_secret: str | None = None
    callback_url: str | None = None  # the default for requests that name none

    def require(self, role: Role) -> None:
        if role not in self.roles:
            raise Forbidden(f"this API key has no {role} role", field="X-Api-Key", code="forbidden")


class ClientRegistry:
    """Key hashes to clients; compares in constant time against every stored hash."""

    def __init__(self, by_hash: dict[str, Client], cursor_key: bytes):
        self._by_hash = by_hash
        self.cursor_key = cursor_key

    @property
    def clients(self) -> tuple[Client, ...]:
        return tuple({client.name: client for client in self._by_hash.values()}.values())

    def client_named(self, name: str) -> Client | None:
        return next((client for client in self._by_hash.values() if client.name == name), None)

    def authenticate(self, presented: str | None) -> Client:
        if not presented:
            raise Unauthorized("missing X-Api-Key header", field="X-Api-Key", code="missing_api_key")
        candidate = key_hash(presented)
        found = None
        for stored, client in self._by_hash.items():  # every hash is compared: the time does not say which matched
            if hmac.compare_digest(candidate, stored):
                found = client
        if found is None:
            raise Unauthorized("invalid API key", field="X-Api-Key", code="invalid_api_key")
        return found


@dataclass(frozen=True)
class Defaults:
    rate_limit: int
    daily_quota: int


def registry_from_document(text: str, defaults: Defaults, *, local: bool = False) -> ClientRegistry:
    """The registry a JSON document describes, or ConfigurationError naming what is wrong in it."""
    try:
        raw = json.loads(text)
    except ValueError:
        raise _refused("the clients document is not valid JSON") from None
    if isinstance(raw, list):  # the earlier format: a plain list of keys
        return registry_from_keys([str(key) for key in raw], defaults, local=local)
    try:
        document = RegistryDocument.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'document'}: {e['msg']}"
                             for e in exc.errors(include_input=False, include_url=False))
        raise _refused(f"the clients document is invalid: {problems}") from None
    by_hash: dict[str, Client] = {}
    for name, entry in document.clients.items():
        if entry.callback_url is not None:
            try:  # the URL alone: its host is resolved and guarded at each delivery (callbacks/targets.py)
                check_callback_url_syntax(entry.callback_url, local=local)
            except ValidationFailed as exc:
                raise _refused(f"the clients document is invalid: clients.{name}.{exc.message}") from None
        client = Client(name=name, roles=frozenset(entry.roles),
                        rate_limit=entry.rate_limit or defaults.rate_limit,
                        daily_quota=entry.daily_quota or defaults.daily_quota,
                        senders=entry.senders, countries=entry.countries, callback_secret=entry.callback_secret,
                        callback_url=entry.callback_url)
        for digest in entry.key_hashes:
            if digest in by_hash:
                raise _refused(f"the clients document gives one key to both {by_hash[digest].name} and {name}")
            by_hash[digest] = client
    cursor_key = (document.cursor_key or "").encode() or _derived_cursor_key(by_hash)
    return ClientRegistry(by_hash, cursor_key)


def registry_from_keys(keys: list[str], defaults: Defaults, *, local: bool) -> ClientRegistry:
    """``API_KEYS``: each key a client of its own, with the default limits and both roles."""
    by_hash: dict[str, Client] = {}
    for key in (k.strip() for k in keys):
        if not key:
            continue
        if len(key) < MIN_KEY_CHARS:
            if not local:
                raise _refused(f"an API key is shorter than {MIN_KEY_CHARS} characters; make keys with "
                               "`python -m ops.clients`")
            logger.warning("short API key accepted in the local stage only", extra={"min_chars": MIN_KEY_CHARS})
        digest = key_hash(key)
        by_hash[digest] = Client(name=f"key-{digest[len(KEY_HASH_PREFIX):][:12]}",
                                 roles=frozenset({"send", "operator"}), rate_limit=defaults.rate_limit,
                                 daily_quota=defaults.daily_quota)
    return ClientRegistry(by_hash, _derived_cursor_key(by_hash))


def _derived_cursor_key(by_hash: dict[str, Client]) -> bytes:
    # Without a configured cursor_key: a key only the gateway can compute (every client's key hash), stable
    # across Lambda instances. A client knows its own key, never the others'.
    return hashlib.sha256(("cursor\x1f" + "\x1f".join(sorted(by_hash))).encode()).digest()


def _refused(problem: str) -> ConfigurationError:
    logger.error("client registry refused", extra={"problem": problem})
    return ConfigurationError(problem)
