"""numba kernels by family; each has a plain-numpy reference in the tests.

Every kernel is `njit(parallel=True, cache=True, nogil=True)`: compiled once to the disk cache,
run on all cores, and free of the GIL so that a worker's event loop keeps answering while a
block is computed in a thread.

Processes and their helpers name a kernel module with `lazy("masks")` rather than importing it:
a process module is also its description (id, inputs, outputs, validate, split), which the API
imports, and the API must not load numba (seconds of import, and its compilation cache) for
that. The science calls the kernels as before (`masks.reject_classes(...)`); the module, and
numba, load on the first such call — in a worker, at startup, when it warms the kernels the
processes declare. This keeps one module per process, the description beside the science it
describes, where splitting each in two (or importing inside every method that computes) would
scatter it.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyKernels(ModuleType):
    """Stands for a kernel module until one of its names is used, then forwards to it (imported
    under the import system's lock, so threads that first use it together are safe)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module(self.__name__), name)


def lazy(family: str) -> ModuleType:
    """The kernel module `territoires.compute.kernels.<family>`, imported when first used."""
    return LazyKernels(f"{__name__}.{family}")
