"""Starts the platform's processes, prefixes their output, and stops them all together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import httpx


@dataclass
class Child:
    name: str
    command: Sequence[str]
    process: subprocess.Popen[bytes] | None = None


def _relay(name: str, stream: object) -> None:
    """Copies a child's output line by line, prefixed with its name."""
    for line in iter(stream.readline, b""):  # type: ignore[attr-defined]
        sys.stdout.write(f"{name:>8} | {line.decode(errors='replace')}")
        sys.stdout.flush()


@dataclass
class Supervisor:
    environment: Mapping[str, str]
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, command: Sequence[str]) -> Child:
        child = Child(name, command)
        # Its own session: a terminal's Ctrl-C reaches only us, and we stop children in order.
        child.process = subprocess.Popen(
            list(command),
            env={**os.environ, **self.environment},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        threading.Thread(target=_relay, args=(name, child.process.stdout), daemon=True).start()
        self.children.append(child)
        return child

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
                raise RuntimeError(f"{child.name} exited with status {child.process.returncode}")

    def watch(self) -> None:
        """Blocks until a child dies (an error) or we are interrupted (a clean stop)."""
        while True:
            self.raise_if_died()
            time.sleep(0.5)

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
