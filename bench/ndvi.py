"""NDVI on a full Sentinel-2 tile (10980² uint16): the numba kernel against plain numpy, and
as a share of the memory-copy bandwidth measured in the same run.

    uv run python bench/ndvi.py [--size 10980] [--repeat 5]

The kernel reads two uint16 bands and writes float32: 8 bytes per pixel cross the memory bus.
Bandwidth is measured with a parallel copy (numba, every core) and numpy's copy (one core);
the share is taken against the faster of the two.
"""

from __future__ import annotations

import argparse
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


def best(run: Callable[[], object], repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        timings.append(time.perf_counter() - began)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10980)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    shape = (args.size, args.size)
    red = rng.integers(0, 6000, shape, dtype=np.uint16)
    nir = rng.integers(0, 9000, shape, dtype=np.uint16)
    out = np.empty(shape, np.float32)
    pixels = red.size

    began = time.perf_counter()
    ndvi(red[:8, :8], nir[:8, :8], 0, 0, out[:8, :8])
    first_call = time.perf_counter() - began
    numba_time = best(lambda: ndvi(red, nir, 0, 0, out), args.repeat)
    numpy_time = best(lambda: numpy_ndvi(red, nir), max(1, args.repeat // 2))
    reference = numpy_ndvi(red, nir)
    difference = float(np.nanmax(np.abs(out - reference)))

    source = np.ones(pixels * 2, np.uint32)  # 8 bytes per pixel, like the kernel's traffic
    target = np.empty_like(source)
    parallel_copy(source[:8], target[:8])
    copy_parallel = best(lambda: parallel_copy(source, target), args.repeat)
    copy_numpy = best(lambda: np.copyto(target, source), args.repeat)
    moved = 2 * source.nbytes  # read + write
    bandwidth = moved / min(copy_parallel, copy_numpy)
    kernel_traffic = pixels * 8 / numba_time

    print(
        f"NDVI on {args.size}² uint16 ({pixels / 1e6:.0f} Mpx), {numba.get_num_threads()} "
        f"threads ({numba.threading_layer()}), best of {args.repeat}"
    )
    print(
        f"  numba kernel      {numba_time * 1000:8.1f} ms  ({pixels / numba_time / 1e6:.0f} Mpx/s)"
        f"   first call (cache load or compile) {first_call:.2f} s"
    )
    print(f"  plain numpy       {numpy_time * 1000:8.1f} ms")
    print(
        f"  speed-up          {numpy_time / numba_time:8.1f}×   (goal ≥ 10×); "
        f"max |numba − numpy| = {difference:.1e}"
    )
    print(
        f"  memory copy       {moved / copy_parallel / 1e9:8.1f} GB/s parallel, "
        f"{moved / copy_numpy / 1e9:.1f} GB/s numpy"
    )
    print(
        f"  kernel traffic    {kernel_traffic / 1e9:8.1f} GB/s = "
        f"{kernel_traffic / bandwidth:.0%} of the copy bandwidth (goal ≥ 60 %)"
    )


if __name__ == "__main__":
    main()
