"""Hosts on one machine: Linux network namespaces, each with its own address on a bridge (a
veth pair from the namespace to it), so that the platform's parts talk over a network as they
do on separate machines, and a host can be cut off (its link down) or lost (every process in it
killed). Needs root and iproute2's `ip`.
"""

from __future__ import annotations

import ctypes
import os
import random
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def ip(*arguments: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *arguments], capture_output=True, text=True, check=check)


def unavailable() -> str | None:
    """Why namespaces cannot be made here (one line), or None when they can."""
    if shutil.which("ip") is None:
        return "iproute2's `ip` is missing (apt-get install iproute2)"
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"territoires-probe-{os.getpid()}"
    made = ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` is refused: {made.stderr.strip()}"
    ip("netns", "del", probe, check=False)
    return None


def _setns(descriptor: int) -> None:
    if _libc.setns(descriptor, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"setns: {os.strerror(error)}")


@dataclass
class Host:
    name: str  # the namespace
    address: str
    link: str  # the veth end on the bridge, in the machine's own namespace

    @contextmanager
    def inside(self) -> Iterator[None]:
        """Runs the block (this thread only) in the host's namespace: the processes it starts
        live there, the sockets it opens have the host's address."""
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
        try:
            _setns(target)
            try:
                yield
            finally:
                _setns(own)
        finally:
            os.close(target)
            os.close(own)

    def cut(self) -> None:
        """The host's link goes down: its processes live on but reach nothing, and nothing
        reaches them (a partition, or a machine that froze)."""
        ip("link", "set", self.link, "down")

    def restore(self) -> None:
        ip("link", "set", self.link, "up")

    def pids(self) -> list[int]:
        listed = ip("netns", "pids", self.name, check=False).stdout.split()
        return [int(pid) for pid in listed]

    def kill_all(self) -> None:
        """Every process in the namespace, SIGKILLed: the machine is gone."""
        for pid in self.pids():
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@dataclass
class Network:
    """A bridge with the machine's own namespace at .1 and one namespace per host."""

    tag: str = field(default_factory=lambda: f"{random.getrandbits(24):06x}")
    subnet: int = field(default_factory=lambda: random.randrange(16, 250))
    hosts: dict[str, Host] = field(default_factory=dict)

    @property
    def bridge(self) -> str:
        return f"tb{self.tag}"

    @property
    def gateway(self) -> str:
        """The machine's own address on the bridge (the tests' client)."""
        return f"10.213.{self.subnet}.1"

    def start(self) -> None:
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")

    def add(self, role: str) -> Host:
        number = len(self.hosts) + 2
        host = Host(
            f"th{self.tag}-{role}", f"10.213.{self.subnet}.{number}", f"tv{self.tag}{number}"
        )
        ip("netns", "add", host.name)
        ip("link", "add", host.link, "type", "veth", "peer", "name", "eth0", "netns", host.name)
        ip("link", "set", host.link, "master", self.bridge, "up")
        ip("-n", host.name, "addr", "add", f"{host.address}/24", "dev", "eth0")
        ip("-n", host.name, "link", "set", "eth0", "up")
        ip("-n", host.name, "link", "set", "lo", "up")
        self.hosts[role] = host
        return host

    def destroy(self) -> None:
        """Every process left in the hosts killed, the namespaces and the bridge removed."""
        for host in self.hosts.values():
            host.kill_all()
            ip("netns", "del", host.name, check=False)
        ip("link", "del", self.bridge, check=False)


@contextmanager
def network() -> Iterator[Network]:
    lan = Network()
    try:
        lan.start()
        yield lan
    finally:
        lan.destroy()
