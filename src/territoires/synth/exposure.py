"""What a flood is weighed against: an imperviousness layer (built-up share of each 10 m
pixel, %, in the manner of Copernicus HRL Imperviousness Density) and a population grid
(residents per 100 m cell, in the manner of GHS-POP), both derived from the landscape at the
flood date so that flooded built-up area and exposed population have a planted truth."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np

from territoires.synth.cog import CogWriter, Conversions
from territoires.synth.grid import Grid
from territoires.synth.landscape import Ground, Landscape
from territoires.synth.stac import Asset, Item
from territoires.synth.truth import _percent

IMPERVIOUSNESS = "imperviousness-density"
POPULATION = "population-grid"
POPULATION_RESOLUTION = 100.0
RESIDENTS_PER_BUILT_M2 = 0.004
"""Residents per square metre of built-up land where urban density is 1 (twice as many)."""


class ExposureWriter:
    """Writes the imperviousness layer block by block and the population grid with the last
    block; counts the flooded built-up share and the exposed residents for truth.json."""

    def __init__(
        self, root: Path, grid: Grid, landscape: Landscape, when: date, conversions: Conversions
    ) -> None:
        self.root, self.grid, self.landscape, self.when = root, grid, landscape, when
        self.conversions = conversions
        for collection in (IMPERVIOUSNESS, POPULATION):
            self.folder(collection).mkdir(parents=True)
        self.imperviousness = CogWriter(
            self.path(IMPERVIOUSNESS),
            grid,
            dtype="uint8",
            nodata=255,
            descriptions=["built-up (sealed) share of the pixel (%)"],
        )
        self.population_grid = grid.resampled(POPULATION_RESOLUTION)

    def folder(self, collection: str) -> Path:
        return self.root / collection / f"{collection}-{self.when:%Y}"

    def path(self, collection: str) -> Path:
        return self.folder(collection) / f"{collection}.tif"

    def write_block(
        self, block: int, start: int, x: np.ndarray, y: np.ndarray, ground: Ground, last: bool
    ) -> None:
        cover = self.landscape.cover(ground, self.when)
        self.imperviousness.write(start, _percent(cover.built))
        if last:
            self.imperviousness.finish(self.conversions)
            self._write_population()

    def _write_population(self) -> None:
        """Residents of each 100 m cell: its built-up land times a density rising with urban
        density (sampled at the cell's own resolution, a cell being a census unit)."""
        grid = self.population_grid
        ground = self.landscape.ground(
            grid.column_centres(), grid.row_centres(0, grid.height), POPULATION_RESOLUTION
        )
        built = self.landscape.cover(ground, self.when).built
        density = np.float32(1.0) + np.minimum(ground.urban_density, np.float32(1.0))
        residents = built * density * np.float32(RESIDENTS_PER_BUILT_M2 * grid.resolution**2)
        writer = CogWriter(
            self.path(POPULATION),
            grid,
            dtype="float32",
            nodata=-1.0,
            descriptions=["residents in the cell"],
        )
        writer.write(0, residents.astype(np.float32))
        writer.finish(self.conversions)

    def items(self, start: date, end: date) -> list[Item]:
        """Both layers as STAC items valid over the synthetic period (static layers)."""
        layers = (
            (IMPERVIOUSNESS, self.grid, "uint8", 255, "%", "imperviousness density (%)"),
            (POPULATION, self.population_grid, "float32", -1.0, "residents", "residents"),
        )
        return [
            Item(
                id=f"{collection}-{self.when:%Y}-{grid.epsg}-{int(grid.left)}-{int(grid.top)}",
                collection=collection,
                folder=self.folder(collection),
                grid=grid,
                when=(start, end),
                properties={"gsd": grid.resolution},
                assets={
                    "data": Asset(
                        self.path(collection),
                        title,
                        grid,
                        raster_bands=[
                            {
                                "nodata": nodata,
                                "data_type": dtype,
                                "unit": unit,
                                "spatial_resolution": grid.resolution,
                            }
                        ],
                    )
                },
            )
            for collection, grid, dtype, nodata, unit, title in layers
        ]
