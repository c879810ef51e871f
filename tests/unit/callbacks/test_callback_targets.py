"""The server-side request forgery guard on callback URLs."""

from __future__ import annotations

import socket

import pytest

from chalicelib.callbacks import CallbackTargetRefused, check_callback_target
from chalicelib.callbacks.targets import refused_address, resolve_callback_target
from chalicelib.errors import DependencyUnavailable, ValidationFailed
from chalicelib.settings import get_settings

pytestmark = pytest.mark.unit

PUBLIC_V4, PUBLIC_V6 = "93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"


def resolver_to(*addresses: str):
    def resolve(host, port, type=0):
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in addresses]

    return resolve


def aws_settings(**env):
    return get_settings({"STAGE": "prod", "SMS_PROVIDERS": '[{"name": "a", "url": "https://a.example/send"}]',
                         **env})


@pytest.mark.parametrize(("address", "why"), [
    pytest.param("10.1.2.3", "private", id="rfc1918-10"),
    pytest.param("172.16.0.9", "private", id="rfc1918-172"),
    pytest.param("192.168.1.1", "private", id="rfc1918-192"),
    pytest.param("127.0.0.1", "loopback", id="loopback"),
    pytest.param("169.254.169.254", "cloud metadata", id="aws-metadata"),
    pytest.param("169.254.10.10", "link-local", id="link-local"),
    pytest.param("224.0.0.1", "multicast", id="multicast"),
    pytest.param("0.0.0.0", "unspecified", id="unspecified"),
    pytest.param("240.0.0.1", "reserved", id="reserved"),
    pytest.param("100.64.0.1", "non-public", id="carrier-grade-nat"),
    pytest.param("::1", "loopback", id="ipv6-loopback"),
    pytest.param("fd00:ec2::254", "cloud metadata", id="aws-metadata-ipv6"),
    pytest.param("fe80::1", "link-local", id="ipv6-link-local"),
    pytest.param("fc00::5", "private", id="ipv6-unique-local"),
    pytest.param("::ffff:10.0.0.1", "private", id="ipv4-mapped-private"),
    pytest.param("::ffff:169.254.169.254", "cloud metadata", id="ipv4-mapped-metadata"),
])
def test_an_internal_address_is_refused(address, why):
    assert refused_address(address) == why
    with pytest.raises(CallbackTargetRefused) as refused:
        check_callback_target("https://hooks.example.com/sms", aws_settings(), resolver=resolver_to(address))
    assert refused.value.field == "callback_url"
    assert refused.value.code == "callback_url_refused"


@pytest.mark.parametrize("address", [PUBLIC_V4, PUBLIC_V6])
def test_a_public_address_is_accepted(address):
    check_callback_target("https://hooks.example.com/sms?x=1", aws_settings(), resolver=resolver_to(address))


def test_one_internal_address_among_public_ones_is_enough_to_refuse():
    with pytest.raises(CallbackTargetRefused):
        check_callback_target("https://hooks.example.com/", aws_settings(),
                              resolver=resolver_to(PUBLIC_V4, "10.0.0.7"))


def test_the_allow_list_lets_a_named_host_through_whatever_it_resolves_to():
    settings = aws_settings(CALLBACK_ALLOWED_HOSTS="hooks.internal.example, 10.0.0.9")
    check_callback_target("https://HOOKS.internal.example/s", settings, resolver=resolver_to("10.0.0.8"))
    check_callback_target("https://10.0.0.9:8443/s", settings, resolver=resolver_to("10.0.0.9"))
    with pytest.raises(CallbackTargetRefused):  # another host resolving there is not on the list
        check_callback_target("https://other.example/s", settings, resolver=resolver_to("10.0.0.8"))


@pytest.mark.parametrize("url", [
    pytest.param("http://hooks.example.com/sms", id="http-outside-local"),
    pytest.param("ftp://hooks.example.com/sms", id="ftp"),
    pytest.param("https://user:pass@hooks.example.com/", id="credentials"),
    pytest.param("https:///path", id="no-host"),
    pytest.param("https://hooks.example.com/" + "a" * 2030, id="over-2048"),
    pytest.param("https://hooks.example.com/a b", id="space"),
    pytest.param("https://hooks.example.com:99999/", id="bad-port"),
    pytest.param("https://hooks.example.com/#frag", id="fragment"),
    pytest.param("", id="empty"),
])
def test_a_malformed_url_is_a_field_error(url):
    with pytest.raises(ValidationFailed) as refused:
        check_callback_target(url, aws_settings(), resolver=resolver_to(PUBLIC_V4))
    assert refused.value.field == "callback_url"
    assert refused.value.code == "invalid_callback_url"


def test_http_is_accepted_in_the_local_stage_only():
    local = get_settings({"STAGE": "local", "CALLBACK_ALLOWED_HOSTS": "127.0.0.1"})
    check_callback_target("http://127.0.0.1:9100/cb", local, resolver=resolver_to("127.0.0.1"))
    with pytest.raises(ValidationFailed):
        check_callback_target("http://hooks.example.com/", aws_settings(), resolver=resolver_to(PUBLIC_V4))


def test_the_local_stage_still_refuses_loopback_unless_allowed():
    local = get_settings({"STAGE": "local"})
    with pytest.raises(CallbackTargetRefused):
        check_callback_target("http://localhost:9100/cb", local, resolver=resolver_to("127.0.0.1"))


def test_a_host_that_does_not_resolve_is_refused_at_accept_time_and_retried_at_delivery():
    def fails(*_args, **_kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(CallbackTargetRefused, match="does not resolve"):
        check_callback_target("https://nowhere.invalid/", aws_settings(), resolver=fails)
    with pytest.raises(DependencyUnavailable):
        resolve_callback_target("https://nowhere.invalid/", local=False, allowed_hosts=(), resolver=fails)


def test_the_target_keeps_the_checked_addresses_and_the_port():
    target = resolve_callback_target("https://hooks.example.com:8443/x", local=False, allowed_hosts=(),
                                     resolver=resolver_to(PUBLIC_V4, PUBLIC_V4))
    assert (target.host, target.port, target.addresses) == ("hooks.example.com", 8443, (PUBLIC_V4,))
