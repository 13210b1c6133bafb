"""Starts the platform's processes, prefixes their output, restarts those that crash, and stops
them all together.

A child that dies before the platform is up is a setup problem: `wait_ready` reports it and the
platform stops. Once up, a crash (a worker killed by the kernel, a segfault in native code) is a
fault to survive: the child is started again after a delay that doubles with each crash in a
row (RESTART_DELAY_S, 2×, 4×, … at most MAX_RESTART_DELAY_S), and the streak is forgotten once
it has run STABLE_AFTER_S. Every crash and restart is logged.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import httpx

RESTART_DELAY_S = 1.0
MAX_RESTART_DELAY_S = 30.0
STABLE_AFTER_S = 60.0
WATCH_INTERVAL_S = 0.5


@dataclass
class Child:
    name: str
    command: Sequence[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    crashes: int = 0
    """Crashes in a row, each within STABLE_AFTER_S of its start."""
    restart_at: float | None = None
    """When a crashed child is due to start again."""


def _relay(name: str, stream: object) -> None:
    """Copies a child's output line by line, prefixed with its name."""
    for line in iter(stream.readline, b""):  # type: ignore[attr-defined]
        sys.stdout.write(f"{name:>8} | {line.decode(errors='replace')}")
        sys.stdout.flush()


def _say(message: str) -> None:
    sys.stdout.write(f"{'platform':>8} | {message}\n")
    sys.stdout.flush()


def describe_exit(code: int) -> str:
    """`status 3`, or `signal SIGKILL` for a child killed by a signal."""
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"status {code}"


@dataclass
class Supervisor:
    environment: Mapping[str, str]
    children: list[Child] = field(default_factory=list)
    restart_delay_s: float = RESTART_DELAY_S
    max_restart_delay_s: float = MAX_RESTART_DELAY_S
    stable_after_s: float = STABLE_AFTER_S
    log: Callable[[str], None] = _say

    def start(self, name: str, command: Sequence[str]) -> Child:
        child = Child(name, command)
        self._spawn(child)
        self.children.append(child)
        return child

    def _spawn(self, child: Child) -> None:
        # Its own session: a terminal's Ctrl-C reaches only us, and we stop children in order.
        child.process = subprocess.Popen(
            list(child.command),
            env={**os.environ, **self.environment},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        child.started_at = time.monotonic()
        child.restart_at = None
        threading.Thread(
            target=_relay, args=(child.name, child.process.stdout), daemon=True
        ).start()

    def wait_ready(self, urls: Mapping[str, str], timeout_s: float) -> None:
        """Waits until every URL answers 200; raises naming what did not, or what died."""
        pending = dict(urls)
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=2.0) as client:
            while pending and time.monotonic() < deadline:
                self.raise_if_died()
                for name, url in list(pending.items()):
                    try:
                        if client.get(url).status_code == 200:
                            del pending[name]
                    except httpx.HTTPError:
                        pass
                time.sleep(0.2)
        if pending:
            raise RuntimeError(f"not ready after {timeout_s:.0f} s: {', '.join(pending)}")

    def raise_if_died(self) -> None:
        for child in self.children:
            if child.process and child.process.poll() is not None:
                raise RuntimeError(
                    f"{child.name} exited with {describe_exit(child.process.returncode)}"
                )

    def restart_delay(self, crashes: int) -> float:
        """The wait before the restart that follows `crashes` crashes in a row."""
        return min(self.max_restart_delay_s, self.restart_delay_s * 2 ** (crashes - 1))

    def tend(self) -> None:
        """One round: schedules the restart of children that have died, starts those due."""
        now = time.monotonic()
        for child in self.children:
            if child.process is None or child.process.poll() is None:
                continue
            if child.restart_at is None:
                ran_s = now - child.started_at
                child.crashes = 1 if ran_s >= self.stable_after_s else child.crashes + 1
                delay = self.restart_delay(child.crashes)
                child.restart_at = now + delay
                self.log(
                    f"{child.name} exited with {describe_exit(child.process.returncode)} after "
                    f"{ran_s:.1f} s; restarting it in {delay:g} s "
                    f"(crash {child.crashes} in a row)"
                )
            elif now >= child.restart_at:
                self._spawn(child)
                self.log(f"{child.name} restarted (pid {child.process.pid})")

    def watch(self) -> None:
        """Keeps the children running until we are interrupted (a clean stop)."""
        while True:
            self.tend()
            time.sleep(WATCH_INTERVAL_S)

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM to every child, newest first, then SIGKILL to what is left after the timeout."""
        running = [c for c in reversed(self.children) if c.process and c.process.poll() is None]
        for child in running:
            child.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout_s
        for child in running:
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))  # type: ignore[union-attr]
            except subprocess.TimeoutExpired:
                child.process.kill()  # type: ignore[union-attr]
                child.process.wait()  # type: ignore[union-attr]
