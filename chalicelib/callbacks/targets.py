"""Server-side request forgery guard: a callback URL is a client's, but the POST leaves from inside our
network, so it must never reach what only our network can reach.

Refused, unless CALLBACK_ALLOWED_HOSTS names the host:
  - a scheme other than https (http in the local stage only), credentials in the URL, no host;
  - a host that resolves (socket.getaddrinfo) to ANY address that is private, loopback, link-local,
    multicast, reserved, unspecified, not globally routable, or a cloud metadata address
    (169.254.169.254, fd00:ec2::254), IPv4-mapped IPv6 forms included.

Checked twice: when the request is accepted (400 naming callback_url) and again right before each
delivery, whose connection goes to an address this check passed (DNS may have changed in between: a
name that resolved to a public address at accept time can point at 10.0.0.5 a minute later).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

from chalicelib.errors import DependencyUnavailable, ValidationFailed

MAX_URL_CHARS = 2048
FIELD = "callback_url"
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})

Resolver = Callable[..., list]


class CallbackTargetRefused(ValidationFailed):
    """A syntactically valid callback URL whose target the gateway will not call."""

    code = "callback_url_refused"


@dataclass(frozen=True)
class CallbackTarget:
    """Where one delivery goes: the URL's parts and the addresses the guard let through."""

    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def check_callback_url_syntax(url: str, *, local: bool) -> None:
    """The URL alone, without DNS: https (http in the local stage), a host, no credentials, ≤ 2048 chars."""
    _parts(url, local=local)


def check_callback_target(url: str, settings, resolver: Resolver | None = None) -> None:
    """Accept time: raises ValidationFailed (malformed) or CallbackTargetRefused (a target we will not call),
    both naming callback_url."""
    try:
        resolve_callback_target(url, local=settings.is_local, allowed_hosts=settings.callbacks.allowed_hosts,
                                resolver=resolver)
    except DependencyUnavailable:
        raise CallbackTargetRefused("callback_url host does not resolve", field=FIELD) from None


def resolve_callback_target(url: str, *, local: bool, allowed_hosts: Collection[str],
                            resolver: Resolver | None = None) -> CallbackTarget:
    """The target of ``url`` with the addresses to connect to. CallbackTargetRefused for a target we never
    call; DependencyUnavailable when DNS does not answer (it may later)."""
    scheme, host, port = _parts(url, local=local)
    allowed = {name.lower().strip("[]") for name in allowed_hosts}
    try:
        found = (resolver or socket.getaddrinfo)(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise DependencyUnavailable(f"callback_url host does not resolve: {type(exc).__name__}") from None
    addresses = tuple(dict.fromkeys(info[4][0].split("%")[0] for info in found))
    if not addresses:
        raise DependencyUnavailable("callback_url host does not resolve")
    if host not in allowed:
        for address in addresses:
            problem = refused_address(address)
            if problem:
                raise CallbackTargetRefused(f"callback_url host resolves to a {problem} address, which the "
                                            "gateway does not call", field=FIELD)
    return CallbackTarget(scheme, host, port, addresses)


def refused_address(address: str) -> str | None:
    """Why the gateway never calls ``address`` (e.g. "private"), or None when it may."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    if ip in METADATA_ADDRESSES:
        return "cloud metadata"
    for problem in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(ip, f"is_{problem}"):
            return problem.replace("_", "-")
    if not ip.is_global:
        return "non-public"
    return None


def _parts(url: str, *, local: bool) -> tuple[str, str, int]:
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        raise _malformed(f"callback_url must be a URL of at most {MAX_URL_CHARS} characters")
    if any(ch.isspace() or ord(ch) < 0x21 or ord(ch) == 0x7f for ch in url):
        raise _malformed("callback_url must not contain spaces or control characters")
    if not url.isascii():
        raise _malformed("callback_url must be ASCII (an international host name in its xn-- form)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _malformed("callback_url is not a valid URL") from None
    if port == 0:
        raise _malformed("callback_url has no usable port")
    schemes = ("https", "http") if local else ("https",)
    if parts.scheme not in schemes:
        raise _malformed("callback_url must be an https:// URL" + (" (or http:// locally)" if local else ""))
    if parts.username is not None or parts.password is not None:
        raise _malformed("callback_url must not carry credentials")
    host = (parts.hostname or "").lower()
    if not host:
        raise _malformed("callback_url must name a host")
    if parts.fragment:
        raise _malformed("callback_url must not have a #fragment")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)


def _malformed(message: str) -> ValidationFailed:
    return ValidationFailed(message, field=FIELD, code="invalid_callback_url")
