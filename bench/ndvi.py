"""NDVI on a full Sentinel-2 tile (10980² uint16): the numba kernel against plain numpy, and
as a share of the memory-copy bandwidth measured in the same run.

    uv run python bench/ndvi.py [--size 10980] [--repeat 7] [--cpus 0,1]

The kernel reads two uint16 bands and writes float32: 8 bytes per pixel cross the memory bus.
Bandwidth is measured with a parallel copy (numba, every core) and numpy's copy (one core);
the share is taken against the faster of the two. Both sides run pinned to the same CPUs
(`--cpus`, default every CPU the process may use) and alternate within each repeat, so that
load from elsewhere falls on both; each figure is the median of the repeats with its range.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numba
import numpy as np
from numba import njit, prange

from territoires.compute.kernels.spectral import ndvi


@njit(parallel=True, nogil=True, cache=True)
def parallel_copy(source, target):
    flat_source, flat_target = source.ravel(), target.ravel()
    for i in prange(flat_source.size):
        flat_target[i] = flat_source[i]


def numpy_ndvi(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """The baseline: what one writes in numpy (float32 arithmetic, nodata masked)."""
    r, n = red.astype(np.float32), nir.astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = (n - r) / (n + r)
    values[(red == 0) | (nir == 0)] = np.nan
    return values


def timed(run: Callable[[], object]) -> float:
    began = time.perf_counter()
    run()
    return time.perf_counter() - began


def spread(values: list[float]) -> str:
    """Median [min–max] of ratios or rates."""
    return f"{statistics.median(values):.1f} [{min(values):.1f}–{max(values):.1f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10980)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--cpus", help="CPUs to pin both sides to, e.g. 0,1 (default: all allowed)")
    args = parser.parse_args()
    if args.cpus:
        os.sched_setaffinity(0, {int(cpu) for cpu in args.cpus.split(",")})
    numba.set_num_threads(min(numba.config.NUMBA_NUM_THREADS, len(os.sched_getaffinity(0))))

    rng = np.random.default_rng(0)
    shape = (args.size, args.size)
    red = rng.integers(0, 6000, shape, dtype=np.uint16)
    nir = rng.integers(0, 9000, shape, dtype=np.uint16)
    out = np.empty(shape, np.float32)
    pixels = red.size

    began = time.perf_counter()
    ndvi(red[:8, :8], nir[:8, :8], 0, 0, out[:8, :8])
    first_call = time.perf_counter() - began
    source = np.ones(pixels * 2, np.uint32)  # 8 bytes per pixel, like the kernel's traffic
    target = np.empty_like(source)
    parallel_copy(source[:8], target[:8])
    moved = 2 * source.nbytes  # read + write

    speed_ups, shares, kernel_ms, numpy_ms, copy_rates = [], [], [], [], []
    for _ in range(args.repeat):
        numba_time = timed(lambda: ndvi(red, nir, 0, 0, out))
        numpy_time = timed(lambda: numpy_ndvi(red, nir))
        copy_time = min(
            timed(lambda: parallel_copy(source, target)),
            timed(lambda: np.copyto(target, source)),
        )
        speed_ups.append(numpy_time / numba_time)
        shares.append(100 * (pixels * 8 / numba_time) / (moved / copy_time))
        kernel_ms.append(numba_time * 1000)
        numpy_ms.append(numpy_time * 1000)
        copy_rates.append(moved / copy_time / 1e9)
    difference = float(np.nanmax(np.abs(out - numpy_ndvi(red, nir))))

    print(
        f"NDVI on {args.size}² uint16 ({pixels / 1e6:.0f} Mpx), {numba.get_num_threads()} numba "
        f"threads ({numba.threading_layer()}) on CPUs {sorted(os.sched_getaffinity(0))}, "
        f"{args.repeat} alternating repeats, median [min–max]"
    )
    print(f"  numba kernel      {spread(kernel_ms)} ms   first call {first_call:.2f} s")
    print(f"  plain numpy       {spread(numpy_ms)} ms")
    print(
        f"  speed-up          {spread(speed_ups)}×   (goal ≥ 10×); "
        f"max |numba − numpy| = {difference:.1e}"
    )
    print(f"  memory copy       {spread(copy_rates)} GB/s (best of parallel and numpy copies)")
    print(f"  copy-bandwidth share {spread(shares)} %   (goal ≥ 60 %)")


if __name__ == "__main__":
    main()
