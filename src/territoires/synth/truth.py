"""The planted truth that indicators are scored against: 10 m truth rasters (land cover, built
and vegetation shares), the shorelines as GeoJSON, and truth.json gathering every figure."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, box, mapping

from territoires.synth.cog import CogWriter, Conversions
from territoires.synth.grid import Grid, to_lonlat
from territoires.synth.landscape import LAND_COVER_CLASSES, Ground, Landscape
from territoires.synth.spectra import PHENOLOGY, season

LAND_COVER = "truth/land_cover.tif"
BUILT_FRACTION = "truth/built_fraction.tif"
BUILDING_FRACTION = "truth/building_fraction.tif"
PAVED_FRACTION = "truth/paved_fraction.tif"
VEGETATION_FRACTION = "truth/vegetation_fraction.tif"
SHORELINES = "truth/shorelines.geojson"
CHANGE_RASTER = "truth/land_cover_change.tif"
CHANGE_POLYGONS = "truth/land_cover_change.geojson"
STRATA = ("tree", "shrub", "herbaceous")
"""The vegetation strata planted apart, as `Cover` names them."""


def strata_fraction(year: int, stratum: str) -> str:
    """Where the truth of one stratum's share of each pixel in a year is."""
    return f"truth/strata-{year}/{stratum}_fraction.tif"


TRUTH_FILE = "truth.json"


# The planted shares of each pixel, in percent: name, truth file, band description.
SHARES = (
    ("built", BUILT_FRACTION, "built-up (sealed: buildings and paved) share of the pixel (%)"),
    ("building", BUILDING_FRACTION, "building (roof) share of the pixel (%)"),
    ("paved", PAVED_FRACTION, "paved (streets, roads) share of the pixel (%)"),
    ("vegetation", VEGETATION_FRACTION, "green vegetation share of the pixel (%)"),
)


class TruthWriter:
    """Writes the 10 m truth rasters at the reference date, and the vegetation strata at each of
    `strata_dates`, block by block, and counts classes."""

    def __init__(
        self,
        root: Path,
        grid: Grid,
        landscape: Landscape,
        reference: date,
        conversions: Conversions,
        strata_dates: list[date] | None = None,
    ) -> None:
        self.grid = grid
        self.conversions = conversions
        self.landscape = landscape
        self.reference = reference
        self.class_pixels = dict.fromkeys(LAND_COVER_CLASSES, 0)
        (root / "truth").mkdir(parents=True, exist_ok=True)
        self.land_cover = CogWriter(
            root / LAND_COVER,
            grid,
            dtype="uint8",
            nodata=0,
            descriptions=["land cover class (truth.json land_cover.classes)"],
            resampling="MODE",
        )
        self.shares = {
            name: CogWriter(root / path, grid, dtype="uint8", nodata=255, descriptions=[text])
            for name, path, text in SHARES
        }
        self.changes = None
        if landscape.changes:
            self.changes = CogWriter(
                root / CHANGE_RASTER, grid, dtype="uint8", nodata=255, resampling="MODE",
                descriptions=["planted change class (truth.json land_cover_change.classes)"],
            )  # fmt: skip
        self.strata_dates = strata_dates or []
        self.strata = {}
        for when in self.strata_dates:
            (root / strata_fraction(when.year, STRATA[0])).parent.mkdir(exist_ok=True)
            for stratum in STRATA:
                text = f"{stratum} share of the pixel on {when.isoformat()} (%)"
                self.strata[when, stratum] = CogWriter(
                    root / strata_fraction(when.year, stratum), grid, dtype="uint8", nodata=255,
                    descriptions=[text],
                )  # fmt: skip

    def write_block(
        self, block: int, start: int, x: np.ndarray, y: np.ndarray, ground: Ground, last: bool
    ) -> None:
        cover = self.landscape.cover(ground, self.reference)
        classes = cover.land_cover()
        counts = np.bincount(classes.ravel(), minlength=max(LAND_COVER_CLASSES) + 1)
        for code in LAND_COVER_CLASSES:
            self.class_pixels[code] += int(counts[code])
        self.land_cover.write(start, classes)
        self.shares["built"].write(start, _percent(cover.built))
        self.shares["building"].write(start, _percent(cover.building))
        self.shares["paved"].write(start, _percent(cover.paved))
        self.shares["vegetation"].write(start, _percent(cover.vegetation))
        for when in self.strata_dates:
            at = self.landscape.cover(ground, when)
            for stratum in STRATA:
                self.strata[when, stratum].write(start, _percent(getattr(at, stratum)))
        if self.changes is not None:
            self.changes.write(start, self._change_classes(ground))
        if last:
            self.land_cover.finish(self.conversions)
            changes = [self.changes] if self.changes is not None else []
            for writer in [*self.shares.values(), *self.strata.values(), *changes]:
                writer.finish(self.conversions)

    def _change_classes(self, ground: Ground) -> np.ndarray:
        """The planted change class of each pixel at least half inside a parcel, else 0."""
        assert ground.parcel is not None and ground.parcel_share is not None
        kinds = np.array([0, *(change.kind for change in self.landscape.changes)], np.uint8)
        inside = np.where(ground.parcel_share >= 0.5, ground.parcel + 1, 0)
        return kinds[inside]

    def strata_truth(self, scenes: list[date], latitude: float) -> dict[str, Any]:
        """The strata truth's files, and the season each Sentinel-2 date was planted in."""
        return {
            "years": {
                str(when.year): {
                    "date": when.isoformat(),
                    **{stratum: strata_fraction(when.year, stratum) for stratum in STRATA},
                }
                for when in self.strata_dates
            },
            "scenes": {day.isoformat(): season(day, latitude) for day in sorted(scenes)},
            "phenology": {
                name: {stratum: list(spectrum) for stratum, spectrum in spectra.items()}
                for name, spectra in PHENOLOGY.items()
            },
            "definition": "each stratum's share of the pixel (%): trees, shrubs (hedgerows, "
            "forest edges, scrub, gardens) and herbaceous plants (grass, crops) add up to the "
            "vegetation fraction; the phenology gives their reflectance (B02 B03 B04 B08 B11 "
            "B12) by season",
        }

    def land_cover_truth(self) -> dict[str, Any]:
        total = sum(self.class_pixels.values())
        return {
            "date": self.reference.isoformat(),
            "raster": LAND_COVER,
            "built_fraction_raster": BUILT_FRACTION,
            "building_fraction_raster": BUILDING_FRACTION,
            "paved_fraction_raster": PAVED_FRACTION,
            "sealed": "built_fraction is the sealed (impervious) share: building_fraction (roofs) "
            "plus paved_fraction (streets and roads, darker asphalt); each raster is rounded to "
            "whole percents on its own",
            "vegetation_fraction_raster": VEGETATION_FRACTION,
            "classes": {
                str(code): {
                    "name": name,
                    "pixels": self.class_pixels[code],
                    "fraction": round(self.class_pixels[code] / total, 6),
                }
                for code, name in LAND_COVER_CLASSES.items()
            },
            "rule": "water if water share >= 0.5, else built-up if built share >= 0.5, else "
            "tree cover if tree share >= 0.5, else low vegetation if trees + low plants >= 0.5, "
            "else bare soil",
        }


def _percent(share: np.ndarray) -> np.ndarray:
    return np.rint(share * np.float32(100.0)).astype(np.uint8)


def write_shorelines(root: Path, landscape: Landscape, grid: Grid, dates: list[date]) -> None:
    """The planted coast at each date, clipped to the grid, as GeoJSON lines in lon/lat, with
    `hidden_m`: the stretches (metres along the line from its start, in the grid's CRS) where
    river or lake water meets it, so no image shows it there (`Landscape.hidden_coast`)."""
    transformer = to_lonlat(grid.epsg)
    outline = box(*grid.bounds)
    features = []
    for when in sorted(set(dates)):
        line = LineString(landscape.shoreline_line(when, grid)).intersection(outline)
        if line.is_empty:
            continue
        hidden = _hidden_stretches(line, landscape, grid.resolution)
        lonlat = shapely.transform(line, lambda xy: np.column_stack(transformer.transform(*xy.T)))
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "date": when.isoformat(),
                    "offset_m": round(landscape.shoreline.offset_m(when), 3),
                    "hidden_m": hidden,
                },
                "geometry": _rounded(mapping(lonlat)),
            }
        )
    path = root / SHORELINES
    path.parent.mkdir(parents=True, exist_ok=True)
    collection = {"type": "FeatureCollection", "features": features}
    path.write_text(json.dumps(collection) + "\n", encoding="utf-8")


def _hidden_stretches(line: Any, landscape: Landscape, resolution: float) -> list[list[float]]:
    """[start, end] metres along each part of the line, in order, where the coast is hidden;
    each hidden vertex stands for half the spacing either side of it."""
    stretches: list[list[float]] = []
    walked = 0.0
    for part in shapely.get_parts(line):
        points = shapely.get_coordinates(part)
        along = walked + np.concatenate([[0.0], np.hypot(*np.diff(points, axis=0).T).cumsum()])
        for index in np.flatnonzero(landscape.hidden_coast(points, resolution)):
            low = along[max(index - 1, 0)] + (along[index] - along[max(index - 1, 0)]) / 2
            high = along[index] + (along[min(index + 1, along.size - 1)] - along[index]) / 2
            if stretches and low <= stretches[-1][1]:
                stretches[-1][1] = round(high, 2)
            else:
                stretches.append([round(low, 2), round(high, 2)])
        walked = float(along[-1])
    return stretches


def _rounded(geometry: dict[str, Any]) -> dict[str, Any]:
    def walk(value: Any) -> Any:
        if isinstance(value, float):
            return round(value, 7)
        if isinstance(value, list | tuple):
            return [walk(inner) for inner in value]
        return value

    return {"type": geometry["type"], "coordinates": walk(geometry["coordinates"])}


def shoreline_truth(landscape: Landscape, grid: Grid) -> dict[str, Any]:
    shoreline = landscape.shoreline
    transformer = to_lonlat(grid.epsg)
    east, north = shoreline.sea_direction
    longitude, latitude = transformer.transform(
        landscape.origin_x + shoreline.origin_x, landscape.origin_y + shoreline.origin_y
    )
    return {
        "rate_m_per_year": shoreline.rate_m_per_year,
        "sign": "negative = erosion (the coast moves landward), positive = accretion",
        "reference_date": shoreline.reference.isoformat(),
        "sea_direction": [round(east, 6), round(north, 6)],
        "sea_azimuth_deg": round(float(np.degrees(np.arctan2(east, north))) % 360.0, 2),
        "reference_point_lonlat": [round(longitude, 7), round(latitude, 7)],
        "lines": SHORELINES,
        "motion": "the whole coast is translated along sea_direction by rate × years since the "
        "reference date, so a transect parallel to sea_direction measures exactly that rate",
    }


def write_truth(root: Path, document: dict[str, Any]) -> Path:
    path = root / TRUTH_FILE
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
