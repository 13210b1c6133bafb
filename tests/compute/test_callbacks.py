"""Callbacks cannot be turned against the platform: non-public addresses are refused (at
submission when literal, at send time after resolution), the POST goes to the address checked,
redirects are not followed, and a subscriber that trickles its answer is cut at the total
deadline, over real sockets on loopback."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Any

import httpx
import pytest

from territoires.compute.callbacks import CallbackError, CallbackPolicy, deliver
from territoires.shared.settings import Settings

from ..stack import SUMMER_2023
from .test_processes_api import assert_nothing_queued_since, counts
from .test_vegetation import follow

LOOPBACK = CallbackPolicy.of(["127.0.0.0/8"])
DOCUMENT = {"status": "running"}
# Deadline of deliveries that must succeed: generous, a loaded test machine is slow to answer.
ANSWERED_WITHIN_S = 15.0


@dataclass
class Received:
    """What a raw subscriber saw: each request's head and how long each connection lasted."""

    heads: list[bytes] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)


Answer = Callable[[socket.socket, Received], None]


@contextmanager
def subscriber(answer: Answer) -> Iterator[tuple[str, Received]]:
    """An HTTP/1.1 server on loopback written on sockets, so that it can answer badly."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    received = Received()

    def handle(connection: socket.socket) -> None:
        began = time.monotonic()
        with connection:
            connection.settimeout(10)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = re.search(rb"content-length: *(\d+)", head, re.I)
                while length and len(body) < int(length.group(1)):
                    body += connection.recv(65536)
                received.heads.append(head)
                answer(connection, received)
            except OSError:
                pass
            finally:
                received.durations.append(time.monotonic() - began)

    def accept() -> None:
        while not received.stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=handle, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", received
    finally:
        received.stop.set()
        thread.join(5)
        listener.close()


def trickle(connection: socket.socket, received: Received, prefix: bytes) -> None:
    """Sends `prefix` then one byte every 50 ms until the client hangs up (or 60 s)."""
    connection.sendall(prefix)
    deadline = time.monotonic() + 60
    while not received.stop.is_set() and time.monotonic() < deadline:
        connection.sendall(b"x")
        time.sleep(0.05)


def trickling_body(connection: socket.socket, received: Received) -> None:
    trickle(connection, received, b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")


def trickling_headers(connection: socket.socket, received: Received) -> None:
    trickle(connection, received, b"HTTP/1.1 200 OK\r\nX-Slow: ")


def no_content(connection: socket.socket, received: Received) -> None:
    connection.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")


def redirect(connection: socket.socket, received: Received) -> None:
    connection.sendall(
        b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /elsewhere\r\n"
        b"Content-Length: 0\r\nConnection: close\r\n\r\n"
    )


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "::1",
        "0.0.0.0",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "100.100.100.200",  # Alibaba Cloud metadata (shared address space)
        "169.254.169.254",  # AWS, GCP, Azure metadata (link-local)
        "192.0.0.192",  # Oracle Cloud metadata
        "fd00:ec2::254",  # AWS metadata over IPv6
        "fe80::1",
        "224.0.0.1",
        "ff02::1",
        "240.0.0.1",
        "255.255.255.255",
        "::ffff:127.0.0.1",
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert CallbackPolicy().refuses(ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "193.51.24.1", "2001:4860:4860::8888"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert not CallbackPolicy().refuses(ip_address(address))


def test_the_allow_list_opens_networks_and_names_only() -> None:
    policy = CallbackPolicy.of(["127.0.0.0/8", "hooks.internal"])
    assert not policy.refuses(ip_address("127.0.0.2"))
    assert not policy.refuses(ip_address("::ffff:127.0.0.1"))
    assert policy.refuses(ip_address("::1"))
    assert policy.refuses(ip_address("169.254.169.254"))
    assert policy.allows_name("HOOKS.internal.") and not policy.allows_name("hooks.internal.evil")


async def test_a_trickling_subscriber_is_cut_at_the_total_deadline() -> None:
    with subscriber(trickling_headers) as (url, received):
        began = time.monotonic()
        with pytest.raises(CallbackError, match="no answer within 1 s"):
            await deliver(f"{url}/hook", DOCUMENT, LOOPBACK, timeout_s=1.0)
        elapsed = time.monotonic() - began
        await hung_up(received, 1)
    assert len(received.heads) == 1
    assert elapsed < 1.5
    assert received.durations[0] < 2.0


async def test_a_trickled_body_is_never_read() -> None:
    """The status line is all a callback needs: the connection is closed at once."""
    with subscriber(trickling_body) as (url, received):
        began = time.monotonic()
        assert await deliver(f"{url}/hook", DOCUMENT, LOOPBACK, timeout_s=5.0) == 200
        assert time.monotonic() - began < 1.0
        await hung_up(received, 1)
    assert received.durations[0] < 1.5


async def hung_up(received: Received, connections: int) -> None:
    """Until the subscriber has noticed the hang-ups (at its next byte sent)."""
    for _ in range(60):
        if len(received.durations) >= connections:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{connections - len(received.durations)} connection(s) still open")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_loopback_is_refused_unless_allowed(host: str) -> None:
    with subscriber(no_content) as (url, received):
        port = url.rsplit(":", 1)[1]
        with pytest.raises(CallbackError, match="non-public"):
            await deliver(f"http://{host}:{port}/hook", DOCUMENT, CallbackPolicy(), 2.0)
        assert (
            await deliver(f"http://{host}:{port}/hook", DOCUMENT, LOOPBACK, ANSWERED_WITHIN_S)
            == 204
        )
    assert len(received.heads) == 1


async def test_the_post_goes_to_the_address_checked() -> None:
    """The name is resolved once, by the policy's resolver: `.invalid` never resolves, so a
    second resolution by the HTTP client would fail; the subscriber still sees its name."""
    with subscriber(no_content) as (url, received):
        port = url.rsplit(":", 1)[1]
        answers = {"hooks.invalid": ["127.0.0.1"], "rebound.invalid": ["127.0.0.1", "10.0.0.7"]}

        async def resolver(host: str, _: int) -> list[str]:
            return answers[host]

        hook = f"http://hooks.invalid:{port}/hook"
        assert await deliver(hook, DOCUMENT, LOOPBACK, ANSWERED_WITHIN_S, resolver) == 204
        with pytest.raises(CallbackError, match="non-public"):
            await deliver(
                f"http://rebound.invalid:{port}/", DOCUMENT, LOOPBACK, ANSWERED_WITHIN_S, resolver
            )
    assert len(received.heads) == 1
    assert f"host: hooks.invalid:{port}".encode() in received.heads[0].lower()


async def test_redirects_are_not_followed() -> None:
    with subscriber(redirect) as (url, received):
        assert await deliver(f"{url}/hook", DOCUMENT, LOOPBACK, ANSWERED_WITHIN_S) == 307
    assert [head.split(b"\r\n")[0] for head in received.heads] == [b"POST /hook HTTP/1.1"]


@pytest.mark.parametrize(
    "uri",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest",
        "http://10.0.0.1/hook",
        "http://0x0a000001:6379/",  # 10.0.0.1 spelled in hexadecimal
        "https://[::1]:8443/hook",  # the test platform allows 127.0.0.0/8 only
        "http://[::ffff:169.254.169.254]/",
        "http://0.0.0.0:5432/",
    ],
)
def test_a_literal_non_public_subscriber_is_a_400(
    platform_url: str, api_key: str, platform_settings: Settings, uri: str
) -> None:
    before = counts(platform_settings)
    answer = httpx.post(
        f"{platform_url}/processes/zonal-statistics/execution",
        headers={"X-API-Key": api_key, "Prefer": "respond-async"},
        json={
            "inputs": {"territory": "17300", "datetime": SUMMER_2023, "collection": "ndvi"},
            "subscriber": {"successUri": "https://partner.example/ok", "failedUri": uri},
        },
    )
    assert answer.status_code == 400, answer.text
    assert "failedUri" in answer.json()["detail"] and "public" in answer.json()["detail"]
    assert_nothing_queued_since(platform_settings, before)


def test_a_trickling_subscriber_does_not_hold_the_job(
    platform_url: str, api_key: str, platform_settings: Settings, worker: Any
) -> None:
    """The test platform's callbacks have 2 s in all: each trickling callback is cut then,
    and the job ends successful."""
    with (
        subscriber(trickling_headers) as (url, received),
        httpx.Client(base_url=platform_url, headers={"X-API-Key": api_key}, timeout=60) as client,
    ):
        accepted = client.post(
            "/processes/zonal-statistics/execution",
            headers={"Prefer": "respond-async"},
            json={
                "inputs": {
                    "territory": "17300",
                    "datetime": SUMMER_2023,
                    "collection": "sentinel-2-l2a",
                    "asset": "B08",
                },
                "subscriber": {"inProgressUri": f"{url}/progress", "successUri": f"{url}/done"},
            },
        )
        assert accepted.status_code == 201, accepted.text
        ended = follow(client, f"/jobs/{accepted.json()['jobID']}", timeout_s=60)[-1]
        assert ended["status"] == "successful", ended
        deadline = time.monotonic() + 10
        while len(received.durations) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    timeout = platform_settings.callback_timeout_s
    assert len(received.heads) == 2
    assert all(duration < timeout + 1.0 for duration in received.durations), received.durations
