"""Callbacks to a job's subscriber (OGC API Processes, conformance class callback).

The worker POSTs the status document when a job starts running, the results document when it
succeeds and an exception document when it fails. A subscriber that cannot be reached costs a
log line, never the job.

Subscriber URLs come from whoever holds an execute key, and the worker sits inside the
platform's network: a callback must not reach its databases, admin ports or the cloud metadata
service (SSRF). The host is resolved once and every address checked (loopback, private,
link-local, multicast, reserved and other non-public addresses are refused unless
TERRITOIRES_CALLBACK_ALLOW lists them), then the POST connects to the checked address itself,
the name kept for Host and TLS, so that a second resolution (DNS rebinding) cannot switch it.
No redirect is followed, no proxy from the environment is used, the answer's body is never
read, and the whole exchange has one deadline (TERRITOIRES_CALLBACK_TIMEOUT_S): a subscriber
that trickles its answer never holds a job slot.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

from territoires.compute.documents import Subscriber, dump, job_url, status_info
from territoires.shared.errors import BadRequestError
from territoires.shared.models import Job
from territoires.shared.settings import Settings, get_settings

IPAddress = IPv4Address | IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

NAT64 = ip_network("64:ff9b::/96")
ALWAYS_INTERNAL = (ip_network("192.0.0.0/24"),)
"""IETF protocol assignments, which Python counts as global in part (192.0.0.192 is a cloud
metadata address)."""

log = structlog.get_logger(__name__)


class CallbackError(Exception):
    """A callback not delivered: refused by the policy, unreachable or too slow."""


@dataclass(frozen=True)
class CallbackPolicy:
    """Where callbacks may go: public addresses, plus the networks and host names allowed."""

    networks: tuple[IPv4Network | IPv6Network, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def of(cls, allowed: Iterable[str]) -> CallbackPolicy:
        """Entries as configured: networks or addresses (`10.0.0.0/8`, `::1`), else host names."""
        networks: list[IPv4Network | IPv6Network] = []
        hosts: set[str] = set()
        for entry in allowed:
            try:
                networks.append(ip_network(entry, strict=False))
            except ValueError:
                hosts.add(_host_name(entry))
        return cls(tuple(networks), frozenset(hosts))

    @classmethod
    def from_settings(cls, settings: Settings) -> CallbackPolicy:
        return cls.of(settings.callback_allow)

    def refuses(self, address: IPAddress) -> bool:
        address = _unmapped(address)
        if any(address in network for network in self.networks):
            return False
        return _internal(address)

    def allows_name(self, host: str) -> bool:
        return _host_name(host) in self.hosts


def _host_name(host: str) -> str:
    return host.lower().rstrip(".")


def _unmapped(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address it is."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _internal(address: IPAddress) -> bool:
    """Not a public unicast address: loopback, private, shared, link-local (169.254.169.254,
    the metadata service), multicast, reserved, unspecified, documentation; an IPv6 address
    that carries an IPv4 one (6to4, NAT64) is judged by that one too."""
    if isinstance(address, IPv6Address):
        embedded = address.sixtofour
        if address in NAT64:
            embedded = IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and _internal(embedded):
            return True
    return (
        not address.is_global
        or address.is_multicast
        or address.is_reserved
        or any(address in network for network in ALWAYS_INTERNAL)
    )


def _literal(host: str) -> IPAddress | None:
    try:
        return ip_address(host)
    except ValueError:
        return None


def check_subscriber(subscriber: Subscriber | None, settings: Settings) -> None:
    """At submission: a callback URL whose host is a refused address is a 400. Host names are
    checked when the callback is sent, on the addresses they then resolve to."""
    if subscriber is None:
        return
    policy = CallbackPolicy.from_settings(settings)
    for name, uri in subscriber.uris().items():
        host = urlsplit(uri).hostname or ""
        address = _literal(host)
        if address is not None and policy.refuses(address):
            raise BadRequestError(
                f"subscriber {name}: {host} is not a public address; callbacks go to public "
                "addresses only (TERRITOIRES_CALLBACK_ALLOW lists the exceptions)"
            )


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Target:
    """Where a callback connects: the URL with the checked address for its host, and the name
    the subscriber expects in Host and in TLS (SNI and certificate)."""

    url: httpx.URL
    host_header: str
    tls_name: str | None


async def target(uri: str, policy: CallbackPolicy, resolver: Resolver) -> Target:
    """The checked address to POST `uri` to; CallbackError when any address the host resolves
    to is refused (one refused address is enough: the resolver may answer it next time)."""
    url = httpx.URL(uri)
    if url.scheme not in ("http", "https") or not url.host:
        raise CallbackError("not an http(s) URL")
    literal = _literal(url.host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            addresses = [ip_address(a) for a in await resolver(url.host, port)]
        except OSError as error:
            raise CallbackError(f"{url.host} does not resolve ({error})") from error
    if not addresses:
        raise CallbackError(f"{url.host} resolves to no address")
    if not policy.allows_name(url.host) and any(policy.refuses(a) for a in addresses):
        raise CallbackError(f"{url.host} is or resolves to a non-public address")
    tls_name = url.host if url.scheme == "https" and literal is None else None
    return Target(url.copy_with(host=str(addresses[0])), url.netloc.decode(), tls_name)


async def deliver(
    uri: str,
    document: dict[str, Any],
    policy: CallbackPolicy,
    timeout_s: float,
    resolver: Resolver = system_resolver,
) -> int:
    """POSTs `document` to `uri`, all of it (resolving, connecting, sending, the answer's
    status line and headers) within `timeout_s`; the answer's status. CallbackError when
    refused, unreachable or too slow."""
    try:
        async with asyncio.timeout(timeout_s):
            checked = await target(uri, policy, resolver)
            extensions = {"sni_hostname": checked.tls_name} if checked.tls_name else {}
            async with (
                httpx.AsyncClient(
                    timeout=timeout_s, trust_env=False, follow_redirects=False
                ) as client,
                client.stream(
                    "POST",
                    checked.url,
                    json=document,
                    headers={"Host": checked.host_header},
                    extensions=extensions,
                ) as response,
            ):
                return response.status_code
    except TimeoutError:
        raise CallbackError(f"no answer within {timeout_s:g} s") from None
    except httpx.HTTPError as error:
        raise CallbackError(f"{type(error).__name__}: {error}") from error


async def _post(uri: str | None, document: dict[str, Any], job: Job) -> None:
    if not uri:
        return
    settings = get_settings()  # the worker's own, from its environment
    try:
        status = await deliver(
            uri, document, CallbackPolicy.from_settings(settings), settings.callback_timeout_s
        )
    except CallbackError as error:
        log.warning("callback failed", job_id=str(job.id), uri=uri, error=str(error))
        return
    if status >= 400:
        log.warning("callback refused", job_id=str(job.id), uri=uri, status=status)


def _uri(job: Job, name: str) -> str | None:
    return (job.subscriber or {}).get(name)


async def in_progress(job: Job) -> None:
    await _post(_uri(job, "inProgressUri"), dump(status_info(job, job.base_url or "")), job)


async def succeeded(job: Job) -> None:
    await _post(_uri(job, "successUri"), job.outputs or {}, job)


async def failed(job: Job) -> None:
    problem = {
        "type": "about:blank",
        "title": "Job failed",
        "detail": job.message or "the job failed",
        "instance": job_url(job.base_url or "", job.id),
    }
    await _post(_uri(job, "failedUri"), problem, job)
