"""The sign-in client's address: X-Forwarded-For counts only when a trusted proxy sent it, read from the right."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from atlas_services.client_address import client_address, parse_networks, throttle_bucket
from atlas_services.config import Settings

PROXIES = parse_networks("10.0.0.0/8, 2001:db8:ffff::/48")


def test_a_forged_forwarded_for_from_an_untrusted_peer_is_ignored() -> None:
    assert client_address("198.51.100.7", ["203.0.113.1"], PROXIES) == "198.51.100.7"
    assert client_address("198.51.100.7", ["203.0.113.1"], ()) == "198.51.100.7"  # the default: no proxies


def test_behind_a_trusted_proxy_each_client_is_itself_not_the_proxy() -> None:
    assert client_address("10.0.0.2", ["198.51.100.7"], PROXIES) == "198.51.100.7"
    assert client_address("10.0.0.2", ["203.0.113.9"], PROXIES) == "203.0.113.9"


def test_a_client_cannot_prepend_a_forged_hop_to_what_the_proxy_appends() -> None:
    # The client sent "X-Forwarded-For: 1.2.3.4"; the proxy appended the address it saw.
    assert client_address("10.0.0.2", ["1.2.3.4, 198.51.100.7"], PROXIES) == "198.51.100.7"
    assert client_address("10.0.0.2", ["1.2.3.4", "198.51.100.7"], PROXIES) == "198.51.100.7"  # split headers


def test_chained_trusted_proxies_are_skipped_from_the_right() -> None:
    assert client_address("10.0.0.2", ["198.51.100.7, 10.1.1.1, 10.2.2.2"], PROXIES) == "198.51.100.7"
    assert client_address("10.0.0.2", ["10.1.1.1"], PROXIES) == "10.1.1.1"  # only proxies: the furthest one


@pytest.mark.parametrize("header", [[], [""], ["garbage, ;drop"], ["not-an-address"]])
def test_a_missing_or_unreadable_header_leaves_the_last_address_a_proxy_vouched_for(header: list[str]) -> None:
    assert client_address("10.0.0.2", header, PROXIES) == "10.0.0.2"


def test_garbage_left_of_a_real_hop_stops_the_walk_at_that_hop() -> None:
    assert client_address("10.0.0.2", ["evil, 198.51.100.7"], PROXIES) == "198.51.100.7"
    assert client_address("10.0.0.2", ["198.51.100.7, evil, 10.3.3.3"], PROXIES) == "10.3.3.3"


@pytest.mark.parametrize(("hop", "expected"), [
    ("198.51.100.7:4711", "198.51.100.7"), ("[2001:db8::5]:443", "2001:db8::5"), ("2001:db8::5", "2001:db8::5"),
    ("::ffff:198.51.100.7", "198.51.100.7"),
])
def test_ports_brackets_and_mapped_addresses_are_read(hop: str, expected: str) -> None:
    assert client_address("10.0.0.2", [hop], PROXIES) == expected


def test_ipv6_proxies_are_trusted_too_and_the_peer_is_kept_when_unreadable() -> None:
    assert client_address("2001:db8:ffff::1", ["198.51.100.7"], PROXIES) == "198.51.100.7"
    assert client_address("testclient", ["198.51.100.7"], PROXIES) == "testclient"


def test_ipv6_clients_share_one_bucket_per_64() -> None:
    assert throttle_bucket("2001:db8:1:2:aaaa::1") == throttle_bucket("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert throttle_bucket("2001:db8:1:3::1") != throttle_bucket("2001:db8:1:2::1")
    assert throttle_bucket("198.51.100.7") == "198.51.100.7"
    assert throttle_bucket("") == ""


def test_the_setting_takes_cidrs_and_refuses_anything_else() -> None:
    settings = Settings(trusted_proxies="10.0.0.0/8,192.0.2.1", _env_file=None)  # type: ignore[call-arg]
    assert [str(n) for n in settings.trusted_proxy_networks] == ["10.0.0.0/8", "192.0.2.1/32"]
    assert Settings(_env_file=None).trusted_proxy_networks == ()  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="not an IP network"):
        Settings(trusted_proxies="10.0.0.0/8,proxy.example", _env_file=None)  # type: ignore[call-arg]
