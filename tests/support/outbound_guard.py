"""What the outbound guard (tests/plugins/guard.py) records: every request; it refuses non-loopback hosts."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class OutboundRefused(AssertionError):
    pass


@dataclass
class OutboundLog:
    requests: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def check(self, method: str, url: str, host: str) -> None:
        self.requests.append(f"{method} {url}")
        if not is_loopback(host):
            self.refused.append(f"{method} {url}")
            raise OutboundRefused(f"outbound request to a non-loopback host refused in tests: {method} {host}")
