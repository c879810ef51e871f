"""Manage the client registry: create a client, give it a new key, retire a key, list clients.

    python -m ops.clients --secret-id sms-gateway/prod/api-keys create team-a --rate-limit 20 --country US
    python -m ops.clients --secret-id sms-gateway/prod/api-keys add-key team-a      # rotation: a second key
    python -m ops.clients --secret-id sms-gateway/prod/api-keys remove-key team-a sha256:...
    python -m ops.clients --secret-id sms-gateway/prod/api-keys set-callback team-a --new-secret \
        --url https://team-a.example/sms-status                                    # signed status callbacks
    python -m ops.clients --file clients.json list                                 # a local document
    python -m ops.clients new-entry team-a --callback-url http://127.0.0.1:9100/ --local
        # a key, its hash line and a callback secret, and a CLIENTS document holding them: nothing is read or
        # written (for CLIENTS="..." make run, or to paste into a registry by hand)

A new callback secret is printed once, here (it is stored: the gateway signs with it). A new key is printed
once, here, and never stored: the document keeps only its SHA-256. The document is
validated as the API validates it before anything is written, so this tool never leaves a registry the
API would refuse. The API picks the change up within CLIENTS_MAX_AGE_S (a minute by default).
Locally, point CLIENTS at a file's content: CLIENTS="$(cat clients.json)" make run.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

from chalicelib.clients import Defaults, key_hash, registry_from_document
from chalicelib.errors import ConfigurationError

KEY_BYTES = 32  # token_urlsafe(32): 43 characters, 256 bits


class SecretDocument:
    def __init__(self, secret_id: str):
        self._id = secret_id
        self._secrets = boto3.session.Session().client("secretsmanager")

    def read(self) -> dict:
        try:
            return json.loads(self._secrets.get_secret_value(SecretId=self._id)["SecretString"])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                return {}
            raise

    def write(self, document: dict) -> None:
        text = json.dumps(document, indent=2, sort_keys=True)
        try:
            self._secrets.put_secret_value(SecretId=self._id, SecretString=text)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            self._secrets.create_secret(Name=self._id, SecretString=text)


class FileDocument:
    def __init__(self, path: str):
        self._path = Path(path)

    def read(self) -> dict:
        return json.loads(self._path.read_text()) if self._path.exists() else {}

    def write(self, document: dict) -> None:
        self._path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        self._path.chmod(0o600)


def new_key() -> str:
    return secrets.token_urlsafe(KEY_BYTES)


def create(document: dict, name: str, *, roles: list[str], rate_limit: int | None, daily_quota: int | None,
           countries: list[str], senders: list[str]) -> str:
    clients = document.setdefault("clients", {})
    if name in clients:
        raise SystemExit(f"client {name!r} exists already; use add-key for another key")
    document.setdefault("cursor_key", secrets.token_urlsafe(32))
    key = new_key()
    entry: dict = {"key_hashes": [key_hash(key)], "roles": roles or ["send"]}
    for field, value in (("rate_limit", rate_limit), ("daily_quota", daily_quota), ("countries", countries),
                         ("senders", senders)):
        if value:
            entry[field] = value
    clients[name] = entry
    return key


def add_key(document: dict, name: str) -> str:
    entry = _entry(document, name)
    key = new_key()
    entry["key_hashes"].append(key_hash(key))
    return key


def remove_key(document: dict, name: str, digest: str) -> None:
    entry = _entry(document, name)
    if digest not in entry["key_hashes"]:
        raise SystemExit(f"{name} has no key {digest}")
    if len(entry["key_hashes"]) == 1:
        raise SystemExit(f"{digest} is {name}'s last key: add a new one first (add-key)")
    entry["key_hashes"].remove(digest)


def set_callback(document: dict, name: str, *, url: str | None, clear_url: bool, new_secret: bool) -> str | None:
    """A client's default callback URL and/or a new callback secret (returned, to be printed once)."""
    entry = _entry(document, name)
    if clear_url:
        entry.pop("callback_url", None)
    elif url:
        entry["callback_url"] = url
    if not new_secret:
        return None
    entry["callback_secret"] = secrets.token_urlsafe(KEY_BYTES)
    return entry["callback_secret"]


def new_entry(name: str, *, roles: list[str], callback_url: str | None) -> tuple[str, dict]:
    """A new key and a registry document with one client: its key's hash and a callback secret."""
    key = new_key()
    entry: dict = {"key_hashes": [key_hash(key)], "roles": roles or ["send"],
                   "callback_secret": secrets.token_urlsafe(KEY_BYTES)}
    if callback_url:
        entry["callback_url"] = callback_url
    return key, {"cursor_key": secrets.token_urlsafe(32), "clients": {name: entry}}


def _entry(document: dict, name: str) -> dict:
    try:
        return document["clients"][name]
    except KeyError:
        raise SystemExit(f"no client {name!r}") from None


def check(document: dict, *, local: bool = False) -> None:
    """Refuse to write what the API would refuse to load (in the local stage with ``local``)."""
    try:
        registry_from_document(json.dumps(document), Defaults(rate_limit=1, daily_quota=1), local=local)
    except ConfigurationError as exc:
        raise SystemExit(f"not written: {exc.message}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--secret-id", default=os.environ.get("API_KEYS_SECRET_ID"),
                       help="the Secrets Manager secret (default: API_KEYS_SECRET_ID)")
    where.add_argument("--file", help="a local JSON document instead of a secret")
    parser.add_argument("--local", action="store_true", help="validate as the local stage does (http:// callback "
                        "URLs allowed)")
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("create", help="a new client and its first key")
    make.add_argument("name")
    make.add_argument("--role", dest="roles", action="append", choices=["send", "operator"], default=[])
    make.add_argument("--rate-limit", type=int)
    make.add_argument("--daily-quota", type=int)
    make.add_argument("--country", dest="countries", action="append", default=[], help="ISO code, e.g. US")
    make.add_argument("--sender", dest="senders", action="append", default=[], help="an allowed sender id")
    commands.add_parser("add-key", help="another key for a client (rotation)").add_argument("name")
    retire = commands.add_parser("remove-key", help="retire one of a client's keys")
    retire.add_argument("name")
    retire.add_argument("hash", help="sha256:... as `list` shows it")
    callback = commands.add_parser("set-callback", help="a client's default callback URL and/or a new callback "
                                   "secret (printed once)")
    callback.add_argument("name")
    target = callback.add_mutually_exclusive_group()
    target.add_argument("--url", help="default callback URL: https://, at most 2048 characters")
    target.add_argument("--clear-url", action="store_true", help="remove the default callback URL")
    callback.add_argument("--new-secret", action="store_true", help="make a new callback secret (rotation: the "
                          "old one stops signing at once; callbacks in flight are signed with the new one)")
    commands.add_parser("list", help="clients, roles, limits and key hashes")
    entry = commands.add_parser("new-entry", help="print a new key, its hash line, a callback secret and a CLIENTS "
                                "document holding them; no registry is read or written")
    entry.add_argument("name")
    entry.add_argument("--role", dest="roles", action="append", choices=["send", "operator"], default=[])
    entry.add_argument("--callback-url", help="the client's default callback URL (http://127.0.0.1:… with --local)")
    entry.add_argument("--local", dest="entry_local", action="store_true", help="as --local before the command")
    args = parser.parse_args(argv)
    if args.command == "new-entry":
        return print_new_entry(args.name, roles=args.roles, callback_url=args.callback_url,
                               local=args.local or args.entry_local)
    if not (args.file or args.secret_id):
        parser.error("name the registry: --secret-id (or API_KEYS_SECRET_ID) or --file")
    store = FileDocument(args.file) if args.file else SecretDocument(args.secret_id)
    document = store.read()
    if args.command == "list":
        for name, entry in sorted(document.get("clients", {}).items()):
            limits = f"rate {entry.get('rate_limit', 'default')}/s, quota {entry.get('daily_quota', 'default')}/day"
            callbacks = f"; callbacks to {entry['callback_url']}" if entry.get("callback_url") else ""
            signed = "; callback secret set" if entry.get("callback_secret") else ""
            print(f"{name}: roles {','.join(entry.get('roles', ['send']))}; {limits}{callbacks}{signed}")
            for digest in entry["key_hashes"]:
                print(f"  {digest}")
        return 0
    key = None
    if args.command == "create":
        key = create(document, args.name, roles=args.roles, rate_limit=args.rate_limit,
                     daily_quota=args.daily_quota, countries=args.countries, senders=args.senders)
    elif args.command == "add-key":
        key = add_key(document, args.name)
    elif args.command == "set-callback":
        secret = set_callback(document, args.name, url=args.url, clear_url=args.clear_url,
                              new_secret=args.new_secret)
        check(document, local=args.local)
        store.write(document)
        url = document["clients"][args.name].get("callback_url")
        print(f"{args.name}: default callback URL {url or 'none'}")
        if secret:
            print(f"callback secret for {args.name} (shown once, hand it over now):\n{secret}")
        return 0
    else:
        remove_key(document, args.name, args.hash)
    check(document, local=args.local)
    store.write(document)
    if key:
        print(f"API key for {args.name} (shown once, store it now; only its hash is kept):\n{key}")
    else:
        print(f"removed {args.hash} from {args.name}")
    return 0


def print_new_entry(name: str, *, roles: list[str], callback_url: str | None, local: bool) -> int:
    key, document = new_entry(name, roles=roles, callback_url=callback_url)
    check(document, local=local)
    client = document["clients"][name]
    print(f"API key for {name} (shown once, hand it over now; only its hash goes in the document):\n{key}")
    print(f"its line in key_hashes:\n{client['key_hashes'][0]}")
    print(f"callback secret for {name} (the client verifies X-Signature with it; the gateway signs with it):\n"
          f"{client['callback_secret']}")
    print("CLIENTS document (nothing was written: CLIENTS='<this>' make run, or merge the entry into a registry):")
    print(json.dumps(document, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
