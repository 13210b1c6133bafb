"""The indicator processes a worker can run, by OGC process id (added by the indicator issues)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

ProcessRunner = Callable[[dict[str, Any], Callable[[float], Awaitable[None]]], Awaitable[dict]]

PROCESSES: dict[str, ProcessRunner] = {}
