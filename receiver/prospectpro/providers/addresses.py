"""Which addresses the providers may connect to when a lead's data names the host.

A lead's website comes from whoever writes leads and from Places answers, so a
fetch that followed it anywhere would let them make the receiver read internal
services (169.254.169.254, the cloud's metadata, first of all). Like Svix's
NonLocalDnsResolver, every address that is not globally routable is refused
(loopback, RFC 1918, link-local, CGNAT, multicast, reserved, unspecified, IPv6
unique-local and the like, also written as IPv6 around an IPv4 address) unless
a network of ``PROVIDER_ALLOW_NETWORKS`` admits it. The transport applies this
to each address it is about to connect to, after resolving the name.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TypeAlias

Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

RFC1918 = tuple(map(ipaddress.ip_network, ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")))
SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598, carrier-grade NAT
UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the last 32 bits are an IPv4 address

# The first that applies names the refusal; the last catches what the others do not
# name (documentation and benchmarking ranges, 0.0.0.0/8, 192.0.0.0/24 ...).
KINDS = (
    ("unspecified", lambda a: a.is_unspecified),
    ("loopback", lambda a: a.is_loopback),
    ("private", lambda a: any(a in network for network in RFC1918)),
    ("CGNAT", lambda a: a in SHARED),
    ("link-local", lambda a: a.is_link_local),
    ("unique local", lambda a: a in UNIQUE_LOCAL),
    ("site-local", lambda a: a.version == 6 and a.is_site_local),
    ("multicast", lambda a: a.is_multicast),
    ("reserved", lambda a: a.is_reserved),
    ("not globally routable", lambda a: not a.is_global),
)


def refusal(address: Address, allowed: Iterable[Network] = ()) -> str | None:
    """None when the providers may connect to ``address``; else what kind of address it
    is ("loopback", "private", "link-local" ...). An IPv6 address that carries an IPv4
    one (IPv4-mapped, NAT64, 6to4) is judged by the IPv4 address it reaches."""
    embedded = _embedded_ipv4(address)
    forms = (address,) if embedded is None else (address, embedded)
    if any(form in network for form in forms for network in allowed):
        return None
    return next((kind for kind, applies in KINDS if applies(forms[-1])), None)


def parse_networks(text: str) -> tuple[Network, ...]:
    """``PROVIDER_ALLOW_NETWORKS``: comma-separated CIDRs ("127.0.0.0/8, ::1"); a bare
    address is a network of one."""
    networks = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            networks.append(ipaddress.ip_network(item))
        except ValueError as exc:
            raise ValueError(f"PROVIDER_ALLOW_NETWORKS: {exc}") from None
    return tuple(networks)


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    if address.version == 4:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour
