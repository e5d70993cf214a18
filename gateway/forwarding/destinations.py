"""Where the gateway may send an app's webhooks: the callback destination policy (against SSRF).

An app's URLs (a service's InboundRequestUrl, FallbackUrl and StatusCallback, a number's SmsUrl,
a message's StatusCallback) are chosen by whoever holds an account's credentials, and the gateway
POSTs to them, signed, from inside its network.  Unchecked, that lets an account make the
gateway reach what only the gateway can reach: its own /metrics, a database's HTTP port, a
cloud's metadata service at 169.254.169.254.  So, as Standard Webhooks, Svix and Stripe do:

1. A URL is an absolute `http`/`https` URL with a valid host (letters, digits, hyphens, dots; no
   underscore, as Twilio says) and at most MAX_URL characters (`check_url`, when it is saved).
2. Its destination must be an address the policy allows: a globally routable one, or one inside
   GATEWAY_CALLBACK_ALLOW_NETWORKS; never the unspecified address (0.0.0.0 and :: reach this
   machine) nor the gateway's own listening address.  By default that refuses loopback,
   link-local (cloud metadata), private (10/8, 172.16/12, 192.168/16, fc00::/7), shared (100.64/10)
   and reserved ranges; a self-hosted app on a private network is let in by naming its network.
   When saved, a host written as an address is checked in every spelling the resolver accepts
   (`2130706433`, `127.1`, `0x7f.1`, `[::ffff:127.0.0.1]`), and `localhost` counts as loopback.
3. At connect time (`GuardedTransport`) the host is resolved once, *every* address it resolves
   to is checked, and the connection goes to a checked address: a name that resolved to a public
   address when saved and to 127.0.0.1 now (DNS rebinding) is refused, as is a row saved before
   these rules existed.  Refusing is a connection error with a generic reason; the address is not
   named.  Redirects are never followed (an app's 3xx is its answer), and deliveries go out
   directly, never through an HTTP(S)_PROXY from the environment (the proxy would make the
   connection this check cannot see).
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from collections.abc import Iterable
from typing import Any

import anyio
import httpcore2
import httpx2

from gateway.settings import Settings

MAX_URL = 4000
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_WILDCARDS = {ipaddress.ip_address("0.0.0.0"), ipaddress.ip_address("::")}
#: IPv6 forms that carry an IPv4 address in their last 32 bits: mapped, compatible (deprecated) and
#: NAT64's well-known prefix.  The IPv4 address inside is what they reach.
_EMBEDDING = (
    ipaddress.ip_network("::ffff:0:0/96"),
    ipaddress.ip_network("::/96"),
    ipaddress.ip_network("64:ff9b::/96"),
)
REFUSED = "an address the gateway's callback destination policy refuses"


def _plain(address: Address) -> Address:
    """The address a connection really reaches: the IPv4 one inside an IPv4-embedding IPv6 address."""
    if (
        isinstance(address, ipaddress.IPv6Address)
        and address not in _WILDCARDS
        and any(address in network for network in _EMBEDDING)
        and address != ipaddress.ip_address("::1")
    ):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def literal_address(host: str) -> Address | None:
    """The address a URL's host names by itself, in any spelling the system resolver accepts
    (inet_aton's: `2130706433`, `127.1`, `0x7f.1`, `0177.0.0.1`), or None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


class Destinations:
    """The policy: which (address, port) the forwarder may connect to."""

    def __init__(self, allowed: Iterable[Network], own_host: str, own_port: int, public_url: str | None) -> None:
        self.allowed = tuple(allowed)
        self.own_port = own_port
        self.public = httpx2.URL(public_url) if public_url else None  # parsed once, not per URL checked
        own = literal_address(own_host)
        self.listens_everywhere = own in _WILDCARDS
        self.own_addresses = {_plain(own)} if own is not None else self._resolved(own_host)

    @staticmethod
    def _resolved(host: str) -> set[Address]:
        try:
            return {
                _plain(ipaddress.ip_address(str(info[4][0]).split("%")[0]))
                for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
            }
        except OSError:
            return set()

    def allows(self, address: Address, port: int) -> bool:
        """May a delivery connect to `address`:`port`?"""
        address = _plain(address)
        if address.is_unspecified or self._is_own(address, port):
            return False
        if any(address in network for network in self.allowed):
            return True
        return address.is_global and not address.is_multicast

    def _is_own(self, address: Address, port: int) -> bool:
        if port != self.own_port:
            return False
        if address in self.own_addresses:
            return True
        return self.listens_everywhere and (address.is_loopback or _is_local(address))

    def check_url(self, url: str) -> str | None:
        """Why `url` may not be saved as an app's URL, or None when it may (module docstring, 1-2)."""
        if len(url) > MAX_URL:
            return f"it is longer than {MAX_URL} characters"
        try:
            parsed = httpx2.URL(url)
        except (httpx2.InvalidURL, TypeError, ValueError):
            return "it is not a valid URL"
        if parsed.scheme not in ("http", "https"):
            return "it must be an absolute http or https URL"
        host = parsed.raw_host.decode("ascii", "replace").lower()
        port = parsed.port if parsed.port is not None else 443 if parsed.scheme == "https" else 80
        if not 0 < port < 65536:
            return "its port is not a TCP port"
        address = literal_address(host) if ":" in host or _is_name(host) else None
        if address is None and not _is_name(host):
            return "it has no valid host (letters, digits, hyphens and dots; no underscore)"
        if address is None and (host.rstrip(".") == "localhost" or host.rstrip(".").endswith(".localhost")):
            address = ipaddress.ip_address("127.0.0.1")  # RFC 6761: always loopback
        if address is not None and not self.allows(address, port):
            return f"its host is {REFUSED} (see GATEWAY_CALLBACK_ALLOW_NETWORKS)"
        if self.public is not None and _same_place(parsed, self.public):
            return "it points at the gateway itself"
        return None


def _is_name(host: str) -> bool:
    labels = host.removesuffix(".").split(".")
    return 0 < len(host) <= 253 and all(_LABEL.fullmatch(label) for label in labels)


def _same_place(url: httpx2.URL, own: httpx2.URL) -> bool:
    """Is `url` under the gateway's public URL (same scheme, host and port, path within its path)?"""
    prefix = own.path.rstrip("/") + "/"
    return (url.scheme, url.raw_host.lower(), url.port) == (own.scheme, own.raw_host.lower(), own.port) and (
        url.path + "/"
    ).startswith(prefix)


def _is_local(address: Address) -> bool:
    """Is `address` one of this machine's own?  Only an address of the machine can be bound to."""
    family = socket.AF_INET if address.version == 4 else socket.AF_INET6
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((str(address), 0))
    except OSError:
        return False
    return True


@functools.cache
def destinations(settings: Settings) -> Destinations:
    """The policy of a deployment's settings, built once (its own host is resolved once)."""
    return Destinations(settings.callback_networks(), settings.host, settings.port, settings.public_url)


class _GuardedBackend(httpcore2.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the policy allows."""

    def __init__(self, policy: Destinations, inner: httpcore2.AsyncNetworkBackend) -> None:
        self.policy, self.inner = policy, inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore2.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                found = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError) as exc:
            raise httpcore2.ConnectError(f"could not resolve the callback's host: {exc}") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found))
        if not addresses or not all(self.policy.allows(address, port) for address in addresses):
            raise httpcore2.ConnectError(f"the callback's host resolves to {REFUSED}")
        for address in addresses:  # the checked addresses, and nothing resolved anew
            try:
                return await self.inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except httpcore2.ConnectError as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore2.AsyncNetworkStream:
        raise httpcore2.ConnectError("callbacks are never delivered over a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx2.AsyncHTTPTransport):
    """httpx's own transport, with the policy under its connection pool, where connections are made:
    the TLS handshake still names (and verifies) the URL's host."""

    def __init__(self, policy: Destinations, **options: Any) -> None:
        super().__init__(**options)
        pool = self._pool  # httpx keeps its httpcore pool here and offers no other way to its backend
        pool._network_backend = _GuardedBackend(policy, pool._network_backend)
