"""Smooth random textures evaluated at any map coordinate, so every sensor grid and every block
sees the same landscape: value noise on lattices, gaussian blobs and hashed cells (parcels)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

Extent = tuple[float, float, float, float]
"""left, bottom, right, top in metres."""


def smoothstep(t: np.ndarray) -> np.ndarray:
    return t * t * (3.0 - 2.0 * t)


def clip01(values: np.ndarray) -> np.ndarray:
    return np.clip(values, 0.0, 1.0, out=values)


@dataclass(frozen=True)
class ValueNoise:
    """One octave: random values on a square lattice anchored at the CRS origin, interpolated
    smoothly between the nodes; node values are hashed, so no lattice is stored and any
    extent, block or grid reads the same field."""

    spacing: float
    key: int

    @classmethod
    def draw(cls, rng: np.random.Generator, spacing: float) -> ValueNoise:
        return cls(spacing, int(rng.integers(0, 2**32)))

    def _axis(self, coordinates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        position = coordinates / self.spacing
        index = np.floor(position)
        weight = smoothstep((position - index).astype(np.float32))
        return index.astype(np.int64), weight

    def _nodes(self, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        return cell_random(rows[:, None], columns[None, :], self.key) * 2.0 - 1.0

    def add_to(self, total: np.ndarray, x: np.ndarray, y: np.ndarray, amplitude: float) -> None:
        """Adds amplitude × the values at every (y[i], x[j]) into `total` (len(y), len(x)).

        Interpolates along x on the few lattice rows involved, then along y one run of pixel
        rows between two lattice rows at a time, in place: far less memory traffic than
        gathering whole grids."""
        column, column_weight = self._axis(x)
        row, row_weight = self._axis(y)
        first_column, first_row = int(column.min()), int(row.min())
        nodes = self._nodes(
            np.arange(first_row, int(row.max()) + 2), np.arange(first_column, int(column.max()) + 2)
        )
        nodes *= np.float32(amplitude)
        column -= first_column
        along_x = nodes[:, column] * (1.0 - column_weight) + nodes[:, column + 1] * column_weight
        rise = np.diff(along_x, axis=0)
        row -= first_row
        edges = [0, *(np.flatnonzero(np.diff(row)) + 1).tolist(), row.size]
        for start, stop in itertools.pairwise(edges):
            lattice_row = row[start]
            band = total[start:stop]
            band += along_x[lattice_row]
            band += rise[lattice_row] * row_weight[start:stop, None]

    def line(self, coordinates: np.ndarray) -> np.ndarray:
        """A smooth 1-D random function of one coordinate (any array shape)."""
        index, weight = self._axis(coordinates)
        first = int(index.min())
        nodes = self._nodes(np.zeros(1, np.int64), np.arange(first, int(index.max()) + 2))[0]
        index = index - first
        return nodes[index] * (1.0 - weight) + nodes[index + 1] * weight


@dataclass(frozen=True)
class Profile:
    """A 1-D function tabulated at regular steps, read back by linear interpolation."""

    start: float
    step: float
    values: np.ndarray

    def __call__(self, coordinates: np.ndarray) -> np.ndarray:
        position = (coordinates - np.float32(self.start)) / np.float32(self.step)
        np.clip(position, 0.0, self.values.size - 1.001, out=position)
        index = position.astype(np.int32)
        position -= index
        low = self.values.take(index)
        return low + (self.values.take(index + 1) - low) * position

    def map(self, function) -> Profile:
        """The same tabulation of another function of these values (same positions)."""
        return Profile(self.start, self.step, function(self.values))


@dataclass(frozen=True)
class FractalNoise:
    """Octaves of value noise, each half the spacing and half the amplitude of the one before."""

    octaves: tuple[ValueNoise, ...]

    @classmethod
    def draw(cls, rng: np.random.Generator, largest: float, smallest: float) -> FractalNoise:
        octaves = []
        spacing = largest
        while spacing >= smallest * 0.999:
            octaves.append(ValueNoise.draw(rng, spacing))
            spacing /= 2.0
        return cls(tuple(octaves))

    def grid(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Values on a grid, roughly within [-2, 2]."""
        total = np.zeros((y.size, x.size), np.float32)
        for level, octave in enumerate(self.octaves):
            octave.add_to(total, x, y, 0.5**level)
        return total

    def line(self, coordinates: np.ndarray) -> np.ndarray:
        """A smooth 1-D random function of one coordinate (any array shape)."""
        total = self.octaves[0].line(coordinates)
        for level, octave in enumerate(self.octaves[1:], start=1):
            total += octave.line(coordinates) * np.float32(0.5**level)
        return total

    def profile(self, coordinates: np.ndarray, step: float) -> Profile:
        """The 1-D function tabulated every `step` metres over the span of `coordinates`: a
        cheap stand-in when it is needed at millions of positions."""
        low = math.floor(float(coordinates.min()) / step) * step
        high = float(coordinates.max()) + 2 * step
        return Profile(low, step, self.line(np.arange(low, high, step)))

    def quantile(self, extent: Extent, fraction: float, samples: int = 256) -> float:
        """The value below which `fraction` of the extent lies, estimated on a sample grid."""
        left, bottom, right, top = extent
        x = np.linspace(left, right, samples)
        y = np.linspace(bottom, top, samples)
        return float(np.quantile(self.grid(x, y), fraction))


@dataclass(frozen=True)
class Blob:
    """An isotropic gaussian bump: a town's density, a lake's basin."""

    x: float
    y: float
    sigma: float
    amplitude: float


def blob_sum(blobs: list[Blob], x: np.ndarray, y: np.ndarray, widen: float = 0.0) -> np.ndarray:
    """Sum of gaussian blobs on a grid, each as an outer product of two 1-D profiles over the
    window where it matters; `widen` (m) convolves every blob with a gaussian of that sigma."""
    total = np.zeros((y.size, x.size), np.float32)
    x_ascending = x[0] <= x[-1]
    y_ascending = y[0] <= y[-1]
    for blob in blobs:
        sigma = float(np.hypot(blob.sigma, widen))
        amplitude = blob.amplitude * (blob.sigma / sigma) ** 2
        reach = 4.5 * sigma
        columns = _index_range(x, blob.x - reach, blob.x + reach, x_ascending)
        rows = _index_range(y, blob.y - reach, blob.y + reach, y_ascending)
        if columns.start >= columns.stop or rows.start >= rows.stop:
            continue
        across = np.exp(-0.5 * ((x[columns] - blob.x) / sigma) ** 2).astype(np.float32)
        down = np.exp(-0.5 * ((y[rows] - blob.y) / sigma) ** 2).astype(np.float32)
        total[rows, columns] += (amplitude * down)[:, None] * across[None, :]
    return total


def _index_range(values: np.ndarray, low: float, high: float, ascending: bool) -> slice:
    if ascending:
        return slice(int(np.searchsorted(values, low)), int(np.searchsorted(values, high)))
    reverse = values[::-1]
    start = values.size - int(np.searchsorted(reverse, high))
    stop = values.size - int(np.searchsorted(reverse, low))
    return slice(start, stop)


@dataclass(frozen=True)
class Cells:
    """Integer cell indices of many pixels, stored as offsets into the small rectangle of cells
    they span, so a per-cell random attribute costs one hash per cell and one gather per pixel."""

    first_column: int
    first_row: int
    columns: int
    rows: int
    flat: np.ndarray

    @classmethod
    def of(cls, column: np.ndarray, row: np.ndarray) -> Cells:
        first_column, first_row = int(column.min()), int(row.min())
        rows = int(row.max()) - first_row + 1
        flat = (column - first_column) * rows + (row - first_row)
        return cls(first_column, first_row, int(column.max()) - first_column + 1, rows, flat)

    def random(self, key: int) -> np.ndarray:
        """A uniform [0, 1) value per cell, the same for a cell wherever it is asked for."""
        table = cell_random(
            np.arange(self.first_column, self.first_column + self.columns)[:, None],
            np.arange(self.first_row, self.first_row + self.rows)[None, :],
            key,
        )
        return table.ravel().take(self.flat)


def cell_random(first: np.ndarray, second: np.ndarray, key: int) -> np.ndarray:
    """A uniform [0, 1) value per integer cell (first, second), the same wherever it is asked
    for: a hash, so parcels need no stored table and blocks need no shared state."""
    mask = np.uint64(0xFFFFFFFF)
    value = (
        first.astype(np.int64).astype(np.uint64) * np.uint64(0x9E3779B1)
        + second.astype(np.int64).astype(np.uint64) * np.uint64(0x85EBCA77)
        + np.uint64(key & 0xFFFFFFFF)
    ) & mask
    value ^= value >> np.uint64(15)
    value = (value * np.uint64(0x2C1B3C6D)) & mask
    value ^= value >> np.uint64(12)
    value = (value * np.uint64(0x297A2D39)) & mask
    value ^= value >> np.uint64(15)
    return (value.astype(np.float64) / 4294967296.0).astype(np.float32)
