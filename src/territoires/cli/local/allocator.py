"""The memory allocator local mode's processes run with.

Under glibc's malloc the tiles service's RSS keeps climbing under load: its reading threads free
native memory (GDAL blocks, decoded tiles) that glibc's per-thread arenas keep. jemalloc hands it
back, which keeps the process flat (README, "Mixed load through the gateway"). The container
images preload it the same way (docker/Dockerfile).
"""

from __future__ import annotations

import ctypes.util
import os

from territoires.shared.settings import ConfigurationError, Settings

INSTALL_HINT = "apt-get install libjemalloc2"


def jemalloc_library() -> str | None:
    """The shared library's name as the dynamic loader finds it, or None when not installed."""
    return ctypes.util.find_library("jemalloc")


def allocator_environment(settings: Settings) -> dict[str, str]:
    """LD_PRELOAD for the child processes: jemalloc when asked for and installed."""
    if settings.local_allocator == "system":
        return {}
    library = jemalloc_library()
    if library is None:
        if settings.local_allocator == "jemalloc":
            raise ConfigurationError(f"TERRITOIRES_LOCAL_ALLOCATOR=jemalloc: {INSTALL_HINT}")
        return {}
    preload = " ".join(filter(None, [os.environ.get("LD_PRELOAD", ""), library]))
    return {"LD_PRELOAD": preload}
