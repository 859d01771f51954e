"""Who is on the other end of a request: the direct peer, or what trusted proxies say in X-Forwarded-For.

Pure functions: the caller passes the peer address, the header values and the trusted proxy networks
(``ATLAS_TRUSTED_PROXIES``). A client can write anything into X-Forwarded-For, so the header is read only when the
peer is a trusted proxy, and then only from the right: each trusted proxy appends the address it saw, so the
right-most address that is not itself a trusted proxy is the first one no client could have forged.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Providers hand a whole /64 to one IPv6 subscriber: counting per address would let one client rotate through 2**64.
IPV6_BUCKET_PREFIX = 64
_MAX_LENGTH = 64


def parse_networks(spec: str) -> tuple[IPNetwork, ...]:
    """"10.0.0.0/8, 2001:db8::/32" -> networks; a bare address is a single-address network. Raises ValueError."""
    networks = []
    for part in (p.strip() for p in spec.split(",")):
        if part:
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"'{part[:60]}' is not an IP network (CIDR) or address") from None
    return tuple(networks)


def client_address(peer: str, forwarded_for: Sequence[str], trusted_proxies: Iterable[IPNetwork]) -> str:
    """The client's address: ``peer``, unless ``peer`` is a trusted proxy and X-Forwarded-For names another hop.

    ``forwarded_for`` holds every X-Forwarded-For header value (each a comma-separated list of hops).
    """
    trusted = tuple(trusted_proxies)
    current = _parse(peer)
    if current is None or not _inside(current, trusted):
        return peer[:_MAX_LENGTH]
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
    for hop in reversed([h for h in hops if h]):
        address = _parse(hop)
        if address is None:
            break  # a hop the proxy could not vouch for: stay with the last address a trusted proxy reported
        current = address
        if not _inside(address, trusted):
            break
    return str(current)


def throttle_bucket(address: str) -> str:
    """The key a client is throttled under: an IPv4 address itself, an IPv6 address's /64, anything else as is."""
    parsed = _parse(address)
    if parsed is None:
        return address[:_MAX_LENGTH]
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, IPV6_BUCKET_PREFIX), strict=False))
    return str(parsed)


def _parse(value: str) -> IPAddress | None:
    text = value.strip()
    if text.startswith("["):  # "[2001:db8::1]:443"
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # "192.0.2.1:8080"
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _inside(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address.version == network.version and address in network for network in networks)
