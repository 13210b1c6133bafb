"""Vegetation strata by multi-date unmixing (`kernels/strata.py`): the numba kernel against the
method's plain-numpy statement (`strata_numpy`) on the same cells, with the peak RSS of the run.

    uv run python bench/strata.py [--size 10980] [--numpy-rows 16]

A tile of `--size`² cells over three dates (spring, summer, autumn), each cell a random mix of
the phenological endmembers in uint16 digital numbers, a tenth of the cells clouded at one
date. The kernel runs on every cell, block by block as a job reads them (1024² blocks made on
the fly: the whole tile's 18 bands would take 4.3 GB); numpy on `--numpy-rows` rows of one
block, 4096 cells at a time (its (subsets, endmembers, cells) arrays stay in cache), its time
scaled to the tile (it is linear in the cells). The peak RSS is read after the kernel's pass.
"""

from __future__ import annotations

import argparse
import resource
import time

import numba
import numpy as np

from territoires.compute.kernels import strata

BLOCK = 1024
SEASONS = ("spring", "summer", "autumn")


def block(
    rng: np.random.Generator, endmembers: np.ndarray, rows: int, columns: int
) -> tuple[np.ndarray, np.ndarray]:
    """(dates, bands, rows, columns) uint16 random mixes and (dates, rows, columns) validity."""
    cells = rows * columns
    abundances = rng.dirichlet(np.full(len(endmembers), 0.4), cells).astype(np.float32)
    reflectance = abundances @ endmembers.astype(np.float32)
    digital = np.clip(np.rint(reflectance / 1e-4), 1, 65535).astype(np.uint16)
    bands = np.ascontiguousarray(digital.T.reshape(len(SEASONS), len(strata.BANDS), rows, columns))
    valid = np.ones((len(SEASONS), rows, columns), np.bool_)
    clouded = np.flatnonzero(rng.uniform(size=cells) < 0.1)
    valid.reshape(len(SEASONS), -1)[rng.integers(0, len(SEASONS), clouded.size), clouded] = False
    return bands, valid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10980)
    parser.add_argument("--numpy-rows", type=int, default=16)
    args = parser.parse_args()

    endmembers = strata.endmember_matrix(SEASONS)
    solvers, members = strata.date_solvers(endmembers, len(SEASONS))
    shape = (len(SEASONS), len(strata.BANDS))
    scales, zeros = np.full(shape, 1e-4), np.zeros(shape)
    strata.warm_up()
    rng = np.random.default_rng(0)

    kernel_s = 0.0
    fitted = 0
    for row in range(0, args.size, BLOCK):
        for column in range(0, args.size, BLOCK):
            rows, columns = min(BLOCK, args.size - row), min(BLOCK, args.size - column)
            bands, valid = block(rng, endmembers, rows, columns)
            fractions = np.empty((len(strata.STRATA), rows, columns), np.float32)
            began = time.perf_counter()
            strata.strata_fractions(
                bands, valid, scales, zeros, zeros, solvers, members, endmembers,
                strata.STRATUM_INDEX, strata.WATER, strata.MIN_DATES,
                strata.MAX_RESIDUAL_PER_DATE, fractions,
            )  # fmt: skip
            kernel_s += time.perf_counter() - began
            fitted += int(np.isfinite(fractions[0]).sum())

    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    rows, columns = min(args.numpy_rows, args.size), min(BLOCK, args.size)
    bands, valid = block(rng, endmembers, rows, columns)
    began = time.perf_counter()
    for first in range(0, rows, 4):
        strata.strata_numpy(
            bands[:, :, first : first + 4], valid[:, first : first + 4], scales, zeros, zeros,
            endmembers, strata.MIN_DATES, strata.MAX_RESIDUAL_PER_DATE,
        )  # fmt: skip
    cells = args.size * args.size
    numpy_s = (time.perf_counter() - began) * cells / (rows * columns)
    print(
        f"strata {args.size}² × {len(SEASONS)} dates, {numba.get_num_threads()} threads: kernel "
        f"{kernel_s:.1f} s ({cells / kernel_s / 1e6:.3f} Mcells/s, {fitted / cells:.1%} fitted), "
        f"numpy {numpy_s:.0f} s (from {rows}×{columns} cells, {cells / numpy_s / 1e6:.4f} "
        f"Mcells/s): "
        f"{numpy_s / kernel_s:.1f}× numpy; peak RSS {peak_gb:.2f} GB"
    )


if __name__ == "__main__":
    main()
