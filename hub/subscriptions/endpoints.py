"""Which notification endpoints the hub may call (the receiver-address policy).

A subscription names any URL, so without a policy a client could make the hub call its own
cloud's metadata service or hosts on the link-local network. Addresses are checked when a
subscription is written (literal IPs) and again right before each delivery (after name
resolution, so a DNS name that later points at a denied address is caught too).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

__all__ = ["DEFAULT_DENIED", "EndpointPolicy", "EndpointRefused"]

# link-local (incl. 169.254.169.254, the metadata address of most clouds), IPv6 link-local,
# AWS's IPv6 metadata address and Alibaba Cloud's metadata address.
DEFAULT_DENIED = "169.254.0.0/16,fe80::/10,fd00:ec2::254/128,100.100.100.200/32"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class EndpointRefused(Exception):
    """The endpoint's address is denied by the policy."""


class EndpointPolicy:
    def __init__(self, denied: str = DEFAULT_DENIED) -> None:
        self.denied: list[Network] = [
            ipaddress.ip_network(n.strip(), strict=False) for n in denied.split(",") if n.strip()
        ]

    def _denied(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == n.version and ip in n for n in self.denied)

    def check_literal(self, uri: str) -> None:
        """Refuse a URI whose host is a literal denied address (no name resolution)."""
        host = urlsplit(uri).hostname or ""
        if self._denied(host):
            raise EndpointRefused(f"notification endpoint {host} is not allowed by the policy")

    async def check_resolved(self, uri: str) -> None:
        """Refuse a URI whose host resolves to any denied address."""
        parts = urlsplit(uri)
        host = parts.hostname or ""
        self.check_literal(uri)
        if not self.denied:
            return
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, parts.port or 80, type=socket.SOCK_STREAM)
        except OSError:
            return  # unresolvable: the delivery itself fails and is retried
        for info in infos:
            if self._denied(str(info[4][0])):
                raise EndpointRefused(
                    f"notification endpoint {host} resolves to {info[4][0]}, which the policy"
                    " does not allow")
