"""LST on a full Landsat scene (7,800² at 30 m): the numba kernel against plain numpy, and as a
share of the memory-copy bandwidth measured in the same run (the structure and helpers of
bench/ndvi.py).

    uv run python bench/lst.py [--size 7800] [--repeat 5]

The Level-1 kernel reads three uint16 bands (thermal, red, NIR) and the validity mask (one
byte) and writes float32: 11 bytes per pixel cross the memory bus, with two logarithms per
pixel. The Level-2 kernel reads ST_B10 and the mask and writes float32: 7 bytes per pixel.
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np
from ndvi import best, parallel_copy

from territoires.compute.kernels.lst import lst_level1, lst_level2

# The MTL constants of a Landsat 8 scene (band 10) and the Level-1 reflectance scaling.
ML, AL, K1, K2 = 3.342e-4, 0.1, 774.8853, 1321.0789
SCALE, OFFSET = 2e-5, -0.1
ST_SCALE, ST_OFFSET = 0.00341802, 149.0


def numpy_level1(thermal, red, nir, valid):
    """The baseline: DESIGN.md's chain as one writes it in numpy (float64, masked at the end)."""
    radiance = ML * thermal + AL
    brightness = K2 / np.log(K1 / radiance + 1)
    r, n = red * SCALE + OFFSET, nir * SCALE + OFFSET
    with np.errstate(divide="ignore", invalid="ignore"):
        ndvi = (n - r) / (n + r)
    cover = np.where(n + r > 0, np.clip((ndvi - 0.2) / 0.3, 0, 1) ** 2, 0.0)
    emissivity = 0.004 * cover + 0.986
    lst = brightness / (1 + (10.895e-6 * brightness / 1.4388e-2) * np.log(emissivity)) - 273.15
    usable = valid & (thermal != 0) & (red != 0) & (nir != 0) & (radiance > 0)
    return np.where(usable, lst, np.nan).astype(np.float32)


def numpy_level2(st, valid):
    kelvin = st * ST_SCALE + ST_OFFSET
    return np.where(valid & (st != 0), kelvin - 273.15, np.nan).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=7800)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    shape = (args.size, args.size)
    thermal = rng.integers(20000, 40000, shape, dtype=np.uint16)
    red = rng.integers(6000, 16000, shape, dtype=np.uint16)
    nir = rng.integers(8000, 30000, shape, dtype=np.uint16)
    st = rng.integers(40000, 50000, shape, dtype=np.uint16)
    valid = rng.random(shape) > 0.1  # a tenth under cloud
    out = np.empty(shape, np.float32)
    pixels = thermal.size

    def level1() -> None:
        lst_level1(
            thermal, red, nir, valid, ML, AL, K1, K2, SCALE, OFFSET, SCALE, OFFSET, 0, 0, 0, out
        )

    began = time.perf_counter()
    lst_level1(
        thermal[:8, :8], red[:8, :8], nir[:8, :8], valid[:8, :8],
        ML, AL, K1, K2, SCALE, OFFSET, SCALE, OFFSET, 0, 0, 0, out[:8, :8],
    )  # fmt: skip
    first_call = time.perf_counter() - began
    numba_time = best(level1, args.repeat)
    numpy_time = best(lambda: numpy_level1(thermal, red, nir, valid), max(1, args.repeat // 2))
    difference = float(np.nanmax(np.abs(out - numpy_level1(thermal, red, nir, valid))))

    level2_time = best(lambda: lst_level2(st, valid, ST_SCALE, ST_OFFSET, 0, out), args.repeat)
    numpy2_time = best(lambda: numpy_level2(st, valid), max(1, args.repeat // 2))

    source = np.ones(pixels * 11 // 4 + 1, np.uint32)  # 11 bytes per pixel, the kernel's traffic
    target = np.empty_like(source)
    parallel_copy(source[:8], target[:8])
    copy_parallel = best(lambda: parallel_copy(source, target), args.repeat)
    copy_numpy = best(lambda: np.copyto(target, source), args.repeat)
    bandwidth = 2 * source.nbytes / min(copy_parallel, copy_numpy)  # read + write
    traffic1 = pixels * 11 / numba_time
    traffic2 = pixels * 7 / level2_time

    print(
        f"LST on {args.size}² ({pixels / 1e6:.0f} Mpx), {numba.get_num_threads()} threads "
        f"({numba.threading_layer()}), best of {args.repeat}"
    )
    print(
        f"  Level-1 kernel    {numba_time * 1000:8.1f} ms  ({pixels / numba_time / 1e6:.0f} Mpx/s)"
        f"   first call (cache load or compile) {first_call:.2f} s"
    )
    print(f"  plain numpy       {numpy_time * 1000:8.1f} ms")
    print(
        f"  speed-up          {numpy_time / numba_time:8.1f}×   (goal ≥ 10×); "
        f"max |numba − numpy| = {difference:.1e} K"
    )
    print(
        f"  Level-2 kernel    {level2_time * 1000:8.1f} ms vs numpy {numpy2_time * 1000:.1f} ms: "
        f"{numpy2_time / level2_time:.1f}×"
    )
    print(
        f"  memory copy       {2 * source.nbytes / copy_parallel / 1e9:8.1f} GB/s parallel, "
        f"{2 * source.nbytes / copy_numpy / 1e9:.1f} GB/s numpy"
    )
    print(
        f"  kernel traffic    Level-1 {traffic1 / 1e9:.1f} GB/s = {traffic1 / bandwidth:.0%}, "
        f"Level-2 {traffic2 / 1e9:.1f} GB/s = {traffic2 / bandwidth:.0%} of the copy bandwidth"
    )


if __name__ == "__main__":
    main()
