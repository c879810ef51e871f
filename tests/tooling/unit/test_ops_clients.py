"""The client registry tool: keys printed once and stored as hashes, against a file and a secret (moto)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from chalicelib.clients import Defaults, key_hash, registry_from_document
from ops import clients as tool

pytestmark = pytest.mark.unit

DEFAULTS = Defaults(rate_limit=250, daily_quota=1000)


def run(capsys, *argv) -> str:
    assert tool.main(list(argv)) == 0
    return capsys.readouterr().out


def printed_key(output: str) -> str:
    return output.strip().splitlines()[-1]


def test_a_created_client_authenticates_with_the_printed_key_which_is_stored_only_as_a_hash(tmp_path, capsys):
    path = tmp_path / "clients.json"
    key = printed_key(run(capsys, "--file", str(path), "create", "team-a", "--rate-limit", "20", "--country", "US",
                          "--role", "send", "--role", "operator"))
    text = path.read_text()
    assert len(key) >= 32 and key not in text and key_hash(key) in text
    client = registry_from_document(text, DEFAULTS).authenticate(key)
    assert (client.name, client.rate_limit, client.countries, client.roles) == (
        "team-a", 20, ("US",), frozenset({"send", "operator"}))
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_rotation_adds_a_key_then_retires_the_old_one(tmp_path, capsys):
    path = str(tmp_path / "clients.json")
    old = printed_key(run(capsys, "--file", path, "create", "team-a"))
    new = printed_key(run(capsys, "--file", path, "add-key", "team-a"))
    both = registry_from_document((tmp_path / "clients.json").read_text(), DEFAULTS)
    assert both.authenticate(old) == both.authenticate(new)
    run(capsys, "--file", path, "remove-key", "team-a", key_hash(old))
    after = registry_from_document((tmp_path / "clients.json").read_text(), DEFAULTS)
    assert after.authenticate(new).name == "team-a"
    with pytest.raises(Exception, match="invalid API key"):
        after.authenticate(old)
    assert key_hash(new) in run(capsys, "--file", path, "list")


def test_the_last_key_cannot_be_removed_and_nothing_invalid_is_written(tmp_path, capsys):
    path = str(tmp_path / "clients.json")
    key = printed_key(run(capsys, "--file", path, "create", "team-a"))
    before = (tmp_path / "clients.json").read_text()
    with pytest.raises(SystemExit, match="last key"):
        tool.main(["--file", path, "remove-key", "team-a", key_hash(key)])
    with pytest.raises(SystemExit, match="not written"):
        tool.main(["--file", path, "create", "Bad Name"])
    assert (tmp_path / "clients.json").read_text() == before


def test_the_registry_in_a_secret_is_created_and_updated(capsys, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        key = printed_key(run(capsys, "--secret-id", "gw/clients", "create", "team-a"))
        run(capsys, "--secret-id", "gw/clients", "create", "team-b")
        text = boto3.client("secretsmanager").get_secret_value(SecretId="gw/clients")["SecretString"]
    registry = registry_from_document(text, DEFAULTS)
    assert registry.authenticate(key).name == "team-a"
    assert json.loads(text)["cursor_key"]


def test_set_callback_prints_a_new_secret_once_and_sets_the_default_url(tmp_path, capsys):
    path = tmp_path / "clients.json"
    key = printed_key(run(capsys, "--file", str(path), "create", "team-a"))
    output = run(capsys, "--file", str(path), "set-callback", "team-a", "--new-secret",
                 "--url", "https://team-a.example/sms-status")
    secret = printed_key(output)
    assert len(secret) >= 32 and "https://team-a.example/sms-status" in output
    client = registry_from_document(path.read_text(), DEFAULTS).authenticate(key)
    assert (client.callback_secret, client.callback_url) == (secret, "https://team-a.example/sms-status")
    assert "callback secret set" in run(capsys, "--file", str(path), "list")
    run(capsys, "--file", str(path), "set-callback", "team-a", "--clear-url")
    assert registry_from_document(path.read_text(), DEFAULTS).authenticate(key).callback_url is None


def test_set_callback_refuses_an_http_url_outside_the_local_stage(tmp_path, capsys):
    path = tmp_path / "clients.json"
    run(capsys, "--file", str(path), "create", "team-a")
    with pytest.raises(SystemExit, match="callback_url must be an https:// URL"):
        tool.main(["--file", str(path), "set-callback", "team-a", "--url", "http://team-a.example/s"])
    assert "callback_url" not in path.read_text()
    run(capsys, "--file", str(path), "--local", "set-callback", "team-a", "--url", "http://127.0.0.1:9100/cb")


def test_new_entry_prints_a_key_its_hash_line_a_callback_secret_and_a_document_that_loads(tmp_path, capsys):
    lines = run(capsys, "new-entry", "team-a", "--role", "send", "--callback-url", "https://team-a.example/status")
    lines = lines.strip().splitlines()
    key, digest, secret, document = lines[1], lines[3], lines[5], lines[7]
    assert digest == key_hash(key)
    registry = registry_from_document(document, DEFAULTS)
    client = registry.authenticate(key)
    assert (client.name, client.callback_secret, client.roles) == ("team-a", secret, frozenset({"send"}))
    assert key not in document  # the document holds the hash only
    assert list(tmp_path.iterdir()) == []  # nothing written anywhere


def test_new_entry_takes_a_local_http_callback_url_only_in_the_local_stage(capsys):
    local = run(capsys, "new-entry", "dev", "--callback-url", "http://127.0.0.1:9100/", "--local")
    document = local.strip().splitlines()[-1]
    assert registry_from_document(document, DEFAULTS, local=True).client_named("dev").callback_url == (
        "http://127.0.0.1:9100/")
    with pytest.raises(SystemExit, match="https"):
        tool.main(["new-entry", "dev", "--callback-url", "http://127.0.0.1:9100/"])
