"""Sealed share by spectral unmixing (`kernels/unmixing.py`): the numba kernel against the
method's plain-numpy statement (`sealed_numpy`, run in chunks of rows so that its (subsets,
endmembers, cells) arrays fit in memory) on the same scenes, with the peak RSS of the run.

    uv run python bench/imperviousness.py [--size 1024] [--dates 3] [--numpy-rows 128]

Scenes are random mixes of the endmembers in uint16 digital numbers, made block by block (1024²,
every date of a block) as a job reads them, so that a full 10980² tile runs in bounded memory;
only the unmixing is timed. The kernel runs on every cell; numpy on the first `--numpy-rows`
rows of one block of each date (its time is scaled to the whole tile: it is linear in the
cells).
"""

from __future__ import annotations

import argparse
import resource
import time

import numba
import numpy as np

from territoires.compute.kernels import unmixing

BLOCK = 1024


def scene(rng: np.random.Generator, rows: int, columns: int) -> np.ndarray:
    """(bands, rows, columns) uint16: each cell a random mix of the endmembers."""
    endmembers = unmixing.endmember_matrix()
    abundances = rng.dirichlet(np.full(len(endmembers), 0.3), rows * columns).astype(np.float32)
    reflectance = abundances @ endmembers.astype(np.float32)
    digital = np.clip(np.rint(reflectance / 1e-4), 1, 65535).astype(np.uint16)
    return np.ascontiguousarray(digital.T.reshape(len(endmembers[0]), rows, columns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--dates", type=int, default=3)
    parser.add_argument("--numpy-rows", type=int, default=128)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    bands = len(unmixing.BANDS)
    scales, zeros = np.full(bands, 1e-4), np.zeros(bands)
    endmembers, weights = unmixing.endmember_matrix(), unmixing.sealed_weights()
    solvers, members = unmixing.subset_solvers(endmembers)
    unmixing.warm_up()

    kernel_s = 0.0
    for row in range(0, args.size, BLOCK):
        for column in range(0, args.size, BLOCK):
            rows, columns = min(BLOCK, args.size - row), min(BLOCK, args.size - column)
            dates = [scene(rng, rows, columns) for _ in range(args.dates)]
            valid = np.ones((rows, columns), np.bool_)
            sums = np.zeros((rows, columns), np.float32)
            counts = np.zeros((rows, columns), np.uint16)
            began = time.perf_counter()
            for digital in dates:
                unmixing.fold_sealed(
                    digital, valid, scales, zeros, zeros, solvers, members, endmembers, weights,
                    unmixing.WATER, unmixing.MAX_RESIDUAL, sums, counts,
                )  # fmt: skip
            kernel_s += time.perf_counter() - began

    rows, columns = min(args.numpy_rows, args.size), min(BLOCK, args.size)
    valid = np.ones((rows, columns), np.bool_)
    numpy_s = 0.0
    for _ in range(args.dates):
        digital = scene(rng, rows, columns)
        began = time.perf_counter()
        for row in range(0, rows, 16):
            part = digital[:, row : min(row + 16, rows)]
            unmixing.sealed_numpy(
                part, valid[: part.shape[1]], scales, zeros, zeros, endmembers, weights,
                unmixing.WATER, unmixing.MAX_RESIDUAL,
            )  # fmt: skip
        numpy_s += time.perf_counter() - began
    numpy_s *= args.size * args.size / (rows * columns)

    cells = args.size * args.size * args.dates
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(
        f"unmixing {args.size}² × {args.dates} dates, {numba.get_num_threads()} threads: "
        f"kernel {kernel_s:.2f} s ({cells / kernel_s / 1e6:.2f} Mcells/s), numpy "
        f"{numpy_s:.1f} s (from {rows}×{columns} cells a date, "
        f"{cells / numpy_s / 1e6:.3f} Mcells/s): "
        f"{numpy_s / kernel_s:.1f}× numpy; peak RSS {peak_gb:.2f} GB"
    )


if __name__ == "__main__":
    main()
