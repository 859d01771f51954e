"""Where an alert webhook may point (no DNS here: the web tier checks a URL's form and host when it is set;
the worker's sender resolves and checks the addresses again at each send).

ATLAS_ALERT_HOSTS is the allow-list: only hosts listed may be targeted at all. ``*.example.com`` allows the
subdomains; ``private:relay.internal`` also allows that host to resolve to a private or loopback address
(every other host must resolve to public addresses only).
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from dataclasses import dataclass

from atlas_services.errors import InvalidInput

MAX_URL = 2000


@dataclass(frozen=True)
class AllowList:
    hosts: frozenset[str]
    private_hosts: frozenset[str]

    @classmethod
    def parse(cls, spec: str) -> AllowList:
        hosts, private = set(), set()
        for entry in (e.strip().lower() for e in spec.split(",") if e.strip()):
            if entry.startswith("private:"):
                entry = entry.removeprefix("private:")
                private.add(entry)
            hosts.add(entry)
        return cls(frozenset(hosts), frozenset(private))

    def _match(self, host: str, entries: frozenset[str]) -> bool:
        host = host.lower().rstrip(".")
        return any(host == e or (e.startswith("*.") and host.endswith(e[1:])) for e in entries)

    def allows(self, host: str) -> bool:
        return self._match(host, self.hosts)

    def allows_private(self, host: str) -> bool:
        return self._match(host, self.private_hosts)


def is_public(address: str) -> bool:
    """False for private, loopback, link-local, multicast, reserved and unspecified addresses (and mapped ones)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local)


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # with the query: it may hold the token


def parse_target(url: str, allow: AllowList) -> Target:
    """The URL's parts if its form is right and its host is on the allow-list; InvalidInput otherwise (the
    message never repeats the URL, which may embed a token)."""
    if not isinstance(url, str) or not url.strip() or len(url) > MAX_URL:
        raise InvalidInput("url", "Enter the webhook URL")
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise InvalidInput("url", "The webhook URL is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.username or parts.password:
        raise InvalidInput("url", "The webhook URL must be https://host/path")
    host = parts.hostname.lower()
    if not allow.allows(host):
        raise InvalidInput("url", f"The host {host} is not in ATLAS_ALERT_HOSTS")
    # Plain http only to a relay the operator marked private (the token would cross the internet in clear).
    if parts.scheme == "http" and not allow.allows_private(host):
        raise InvalidInput("url", "The webhook URL must use https")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path)


def hint(target: Target, url: str) -> str:
    """What may be shown: the host and the URL's last four characters."""
    return f"{target.host} …{url.strip()[-4:]}"
