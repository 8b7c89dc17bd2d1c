"""The one egress policy: which addresses the hub may connect to on a client's behalf.

Every outbound connection a client can steer (remote ``@context`` documents, a
subscription's ``jsonldContext``, HTTP and MQTT notification endpoints) goes through
``EgressPolicy``. Without it an anonymous ``Link`` header could make the hub call its own
loopback services, the private network or the cloud metadata service (SSRF).

* **Checked on the address connected to.** HTTP goes through ``policy.connector()``, whose
  socket factory refuses a denied address right before ``connect()`` — after DNS, for every
  address a name resolves to, on every redirect hop and for literal IPs alike — so a name
  that resolves to something else between a check and the connection (DNS rebinding) gains
  nothing. MQTT resolves once through ``resolve`` and connects to that checked address.
* **Fail closed.** In enforcing mode only globally routable unicast addresses are allowed:
  loopback, private (RFC 1918, ULA ``fc00::/7``), link-local, multicast, unspecified,
  reserved, shared (CGNAT ``100.64.0.0/10``) and documentation ranges are refused, and so are
  IPv6 forms that embed such an IPv4 address (mapped, 6to4, NAT64). ``egress_allow`` lists
  the exceptions (CIDRs, or ``address:port``). Development mode allows private and loopback
  (local receivers, the ETSI suite) but still refuses the always-denied networks
  (``notification_denied_networks``: link-local and cloud metadata), which no allow-list
  entry overrides.
* **Opaque to callers.** A refusal raises ``EgressRefused`` whose text is for the log only;
  the callers answer one message whatever the reason, so the hub is no port scanner.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Iterator
from urllib.parse import SplitResult, urlsplit

import aiohttp
from aiohappyeyeballs import AddrInfoType
from yarl import URL

__all__ = ["DEFAULT_DENIED", "DEFAULT_PORTS", "EgressPolicy", "EgressRefused", "FetchFailed",
           "Unresolved", "get_document", "parse_allow"]

log = logging.getLogger("renkei.egress")

#: Refused in every mode: link-local (169.254.169.254 is the metadata address of most
#: clouds), IPv6 link-local, AWS's IPv6 metadata address, Alibaba Cloud's metadata address.
DEFAULT_DENIED = "169.254.0.0/16,fe80::/10,fd00:ec2::254/128,100.100.100.200/32"
DEFAULT_PORTS = {"http": 80, "https": 443, "mqtt": 1883, "mqtts": 8883}

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # CGNAT: not "private" to ipaddress


class EgressRefused(OSError):
    """The policy refuses a destination. An ``OSError`` so that aiohttp reports it like any
    connection failure (``ClientConnectorError``); the text is for the server log only."""


class Unresolved(EgressRefused):
    """The name does not resolve (now): nothing to connect to, but possibly transient."""


def _networks(text: str) -> list[Network]:
    return [ipaddress.ip_network(n.strip(), strict=False) for n in text.split(",") if n.strip()]


def parse_allow(text: str) -> tuple[list[Network], set[tuple[Address, int]]]:
    """``egress_allow``: comma-separated CIDRs (``10.1.0.0/16``) and ``address:port`` pairs
    (``127.0.0.1:8080``, ``[::1]:8080``). Names are refused: the policy checks the address
    actually connected to, which a name does not pin down."""
    networks: list[Network] = []
    endpoints: set[tuple[Address, int]] = set()
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
            continue
        except ValueError:
            pass
        host, sep, port = item.rpartition(":")
        try:
            if not sep or not port.isdigit():
                raise ValueError(item)
            endpoints.add((ipaddress.ip_address(host.strip("[]")), int(port)))
        except ValueError:
            raise ValueError(f"egress_allow entry {item!r} is neither a CIDR nor an"
                             " address:port") from None
    return networks, endpoints


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def _forms(ip: Address) -> Iterator[Address]:
    """The address and every IPv4 address it embeds (an attacker's way around a check)."""
    yield ip
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            yield ip.ipv4_mapped
        if ip.sixtofour is not None:
            yield ip.sixtofour
        if ip in _NAT64:
            yield ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)


def _public(ip: Address) -> bool:
    return ip.is_global and not ip.is_multicast and ip not in _SHARED


class EgressPolicy:
    """Decides each destination; see the module docstring for the rules."""

    def __init__(self, *, enforce: bool, allow: str = "", denied: str = DEFAULT_DENIED) -> None:
        self.enforce = enforce
        self.denied = _networks(denied)
        self.allowed, self.allowed_endpoints = parse_allow(allow)

    def permits(self, address: str, port: int) -> bool:
        """May the hub connect to ``address`` (a literal IP) on ``port``?"""
        ip = _address(address)
        if ip is None:
            return False
        forms = list(_forms(ip))
        if any(f.version == n.version and f in n for f in forms for n in self.denied):
            return False
        if (ip, port) in self.allowed_endpoints or any(
                f.version == n.version and f in n for f in forms for n in self.allowed):
            return True
        return not self.enforce or all(_public(f) for f in forms)

    def check_literal(self, uri: str) -> None:
        """Refuse a URI whose host is a denied literal address or a name that is loopback
        by definition (``localhost``, RFC 6761), without resolving anything: the check a
        subscription gets when it is written. Names are checked when connecting."""
        parts = urlsplit(uri)
        host = (parts.hostname or "").rstrip(".").lower()
        port = _port(parts)
        if host == "localhost" or host.endswith(".localhost"):
            host = "127.0.0.1"
        if _address(host) is not None and not self.permits(host, port):
            raise EgressRefused(f"{host}:{port} is not allowed by the egress policy")

    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses of ``host``, all checked; ``EgressRefused`` when any is denied
        (a name that also points inside is refused whole) or none is found. Connect to
        one of the returned addresses, never to the name again."""
        if _address(host) is not None:
            addresses = [host.split("%", 1)[0]]
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM)
            except OSError as exc:
                raise Unresolved(f"{host} does not resolve: {exc}") from exc
            addresses = list(dict.fromkeys(str(i[4][0]) for i in infos))
        refused = [a for a in addresses if not self.permits(a, port)]
        if refused or not addresses:
            raise EgressRefused(f"{host}:{port} resolves to {refused or 'nothing'}, which the"
                                " egress policy does not allow")
        return addresses

    async def check_resolved(self, uri: str) -> None:
        """Refuse a URI whose host is, or resolves to, a denied address (a pre-flight check
        before a delivery; the connection itself is checked again by ``connector``)."""
        parts = urlsplit(uri)
        self.check_literal(uri)
        try:
            await self.resolve(parts.hostname or "", _port(parts))
        except Unresolved:
            return  # the delivery itself fails and is retried (DNS may be down for now)

    def socket_factory(self, addr_info: AddrInfoType) -> socket.socket:
        """aiohttp's hook right before ``connect()``: the one place every HTTP connection
        passes with the exact address it is about to use."""
        family, type_, proto, _, sockaddr = addr_info
        address, port = str(sockaddr[0]), int(sockaddr[1])
        if not self.permits(address, port):
            log.info("egress refused", extra={"address": address, "port": port})
            raise EgressRefused(f"{address}:{port} is not allowed by the egress policy")
        return socket.socket(family=family, type=type_, proto=proto)

    def connector(self) -> aiohttp.TCPConnector:
        """A connector that connects only where the policy allows."""
        return aiohttp.TCPConnector(socket_factory=self.socket_factory)


def _port(parts: SplitResult) -> int:
    try:
        port = parts.port
    except ValueError:  # out of range: refused like any other unusable destination
        port = None
    return port or DEFAULT_PORTS.get(parts.scheme.lower(), 80)


class FetchFailed(Exception):
    """A GET through the policy gave no document; the text is for the server log only."""


async def get_document(session: aiohttp.ClientSession, url: str, *, seconds: float,
                       max_bytes: int, accept: str, max_redirects: int = 3) -> bytes:
    """GET ``url`` with ``session`` (built on ``EgressPolicy.connector``), following at most
    ``max_redirects`` redirects by hand so that each hop is a new, checked connection (and
    only to http/https). The body when the final answer is 200 and at most ``max_bytes``;
    ``FetchFailed`` for anything else, whatever the reason."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    for _hop in range(max_redirects + 1):
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            raise FetchFailed(f"{url}: only http and https are fetched")
        try:
            async with session.get(
                url, headers={"Accept": accept}, allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=max(0.001, deadline - loop.time())),
            ) as resp:
                if resp.status in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                    url = str(resp.url.join(URL(resp.headers["Location"])))
                    continue
                if resp.status != 200:
                    raise FetchFailed(f"{url} answered HTTP {resp.status}")
                raw = await resp.content.read(max_bytes + 1)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            raise FetchFailed(f"{url}: {type(exc).__name__}: {exc}") from exc
        if len(raw) > max_bytes:
            raise FetchFailed(f"{url} is larger than {max_bytes} bytes")
        return raw
    raise FetchFailed(f"{url}: more than {max_redirects} redirects")
