"""The client address behind proxies: forwarded hops are believed only from trusted proxies."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from territoires.shared.public_url import TrustedProxies, client_address

TRUSTED = TrustedProxies([ip_network("127.0.0.1/32"), ip_network("10.0.0.0/8")])


def scope(peer: str, *headers: tuple[str, str]) -> dict:
    return {
        "type": "http",
        "client": (peer, 50000),
        "headers": [(k.encode(), v.encode()) for k, v in headers],
    }


@pytest.mark.parametrize(
    ("request_scope", "client"),
    [
        # An untrusted peer's headers are its own invention.
        (scope("203.0.113.5", ("x-forwarded-for", "198.51.100.1")), "203.0.113.5"),
        (scope("203.0.113.5", ("forwarded", "for=198.51.100.1")), "203.0.113.5"),
        # A trusted proxy's last hop is the client...
        (scope("10.1.2.3", ("x-forwarded-for", "198.51.100.1")), "198.51.100.1"),
        # ...and what the client wrote before it cannot move it to another bucket.
        (scope("10.1.2.3", ("x-forwarded-for", "192.0.2.1, 198.51.100.1")), "198.51.100.1"),
        # Proxies of our own in the chain are skipped.
        (scope("127.0.0.1", ("x-forwarded-for", "198.51.100.1, 10.9.9.9")), "198.51.100.1"),
        (
            scope(
                "127.0.0.1", ("x-forwarded-for", "198.51.100.1"), ("x-forwarded-for", "10.0.0.7")
            ),
            "198.51.100.1",
        ),
        (scope("127.0.0.1", ("x-forwarded-for", "10.0.0.2, 10.0.0.1")), "10.0.0.2"),
        (scope("127.0.0.1", ("x-forwarded-for", "not-an-address")), "127.0.0.1"),
        (scope("127.0.0.1", ("x-forwarded-for", "198.51.100.1:4711")), "198.51.100.1"),
        (scope("127.0.0.1", ("forwarded", 'for="[2001:db8::1]:4711";proto=https')), "2001:db8::1"),
        (scope("127.0.0.1", ("forwarded", "for=192.0.2.60, for=10.0.0.3")), "192.0.2.60"),
        (scope("::ffff:127.0.0.1", ("x-forwarded-for", "198.51.100.1")), "198.51.100.1"),
        (scope("127.0.0.1"), "127.0.0.1"),
    ],
)
def test_client_address(request_scope: dict, client: str) -> None:
    assert client_address(request_scope, TRUSTED) == client


def test_membership() -> None:
    assert "10.200.0.1" in TRUSTED and "127.0.0.1" in TRUSTED
    assert "127.0.0.2" not in TRUSTED and "::1" not in TRUSTED and "garbage" not in TRUSTED
