"""Where a webhook may be sent: a guard against server-side request forgery.

The host is resolved and every address it resolves to must be publicly routable: private,
loopback, link-local (cloud metadata at 169.254.169.254), multicast, reserved, unspecified and
other non-global addresses are refused, for IPv4 and IPv6 alike, including IPv4 addresses
embedded in IPv6 (::ffff:10.0.0.1, 64:ff9b::/96, 6to4). The check runs when an endpoint is saved
and again before every attempt (DNS can change), and the request then goes to the very address
that was checked, so a second DNS answer cannot slip in between. A deployment that must reach
private hosts sets FULLFIELD_WEBHOOKS_ALLOW_PRIVATE_TARGETS.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from fullfield.errors import DomainError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")


class UnsafeTarget(DomainError):
    code = "unsafe_target"

    def __init__(self, message: str) -> None:
        super().__init__(message, fields={"url": [message]})


@dataclasses.dataclass(frozen=True)
class Target:
    scheme: str
    hostname: str
    port: int
    path: str
    address: str

    @property
    def host_header(self) -> str:
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        default_port = 443 if self.scheme == "https" else 80
        return host if self.port == default_port else f"{host}:{self.port}"


def forbidden_reason(address: IPAddress) -> str | None:
    """Why a webhook may not go to `address`, or None when it is publicly routable."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64_PREFIX:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            reason = forbidden_reason(embedded)
            return f"{reason} (embedded {embedded})" if reason else None
    checks = [
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "not a publicly routable address"),
    ]
    return next((reason for failed, reason in checks if failed), None)


def target_resolve(url: str) -> Target:
    """Parse and resolve `url`, refusing anything a webhook must not reach."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UnsafeTarget(f"The URL is malformed: {error}.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeTarget("Only http and https URLs can receive webhooks.")
    if parts.username or parts.password:
        raise UnsafeTarget("Credentials in the URL are not supported; verify the signature.")
    hostname = (parts.hostname or "").rstrip(".")
    if not hostname:
        raise UnsafeTarget("The URL has no host.")
    port = port or (443 if scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeTarget(f"The host {hostname} does not resolve.") from None
    addresses: list[IPAddress] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnsafeTarget(f"The host {hostname} does not resolve.")
    if not settings.FULLFIELD_WEBHOOKS_ALLOW_PRIVATE_TARGETS:
        for address in addresses:
            reason = forbidden_reason(address)
            if reason:
                shown = hostname if hostname == str(address) else f"{hostname} ({address})"
                raise UnsafeTarget(
                    f"Webhooks cannot be sent to {shown}: it is {reason}. Only public "
                    "addresses can receive webhooks."
                )
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(scheme=scheme, hostname=hostname, port=port, path=path, address=str(addresses[0]))
