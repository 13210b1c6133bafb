"""The footprint of a raster: where it has data, not its bounding box, in longitude/latitude.

A scene's grid is larger than its swath (rotated Landsat paths, Sentinel-2 tiles at the swath's
edge), so a search by area must not return it for places it has no pixel of. The valid-data mask
is read decimated (at most MAX_SIDE pixels a side, from overviews when the file has them),
polygonised, its holes filled (a footprint says where the scene reaches, water or clouds inside
are still covered), simplified by one decimated pixel and reprojected to EPSG:4326.

Which pixels are valid: the file's own nodata value or mask when it has one; else the operator's
`nodata`; else, for unsigned integer bands, 0 — the fill value of Landsat, Sentinel-1 and
Sentinel-2 digital numbers, which their files often do not declare; else (floats) not NaN.
Files georeferenced by ground control points only (Sentinel-1 GRD) have their outline mapped
through the GCPs, so they are catalogued with the footprint they really have.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import MaskFlags
from rasterio.features import shapes
from rasterio.io import DatasetReader
from rasterio.transform import GCPTransformer
from rasterio.warp import transform_geom
from shapely.affinity import affine_transform
from shapely.geometry import Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

MAX_SIDE = 512
# Vertices kept along each footprint edge before reprojection, so long straight edges in the
# raster's CRS bend as they should in longitude/latitude.
SEGMENTS_PER_SIDE = 16
LONLAT = CRS.from_epsg(4326)
# 1e-7 degree is about a centimetre: more digits only bloat every stored item.
GRID_SIZE = 1e-7


class NoFootprintError(ValueError):
    """The raster has no valid pixel, or no georeferencing to place its pixels with."""


def valid_mask(dataset: DatasetReader, out_shape: tuple[int, int], nodata: float | None) -> Any:
    """Booleans, True where band 1 has data, at `out_shape` (see the module docstring)."""
    declared = dataset.nodata is not None or MaskFlags.all_valid not in dataset.mask_flag_enums[0]
    if nodata is None and declared:
        return dataset.dataset_mask(out_shape=out_shape) > 0
    values = dataset.read(1, out_shape=out_shape)
    floating = np.issubdtype(values.dtype, np.floating)
    if nodata is not None and not math.isnan(nodata):
        valid = values != nodata
    elif np.issubdtype(values.dtype, np.unsignedinteger):
        valid = values != 0
    else:
        valid = np.ones(out_shape, dtype=bool)
    return valid & ~np.isnan(values) if floating else valid


def footprint(dataset: DatasetReader, nodata: float | None = None) -> BaseGeometry:
    """The valid-data area of a raster as a valid (Multi)Polygon in EPSG:4326."""
    height, width = dataset.height, dataset.width
    factor = max(1, math.ceil(max(height, width) / MAX_SIDE))
    out_shape = (math.ceil(height / factor), math.ceil(width / factor))
    mask = valid_mask(dataset, out_shape, nodata)
    if not mask.any():
        raise NoFootprintError("no valid pixel (all nodata)")
    # Polygons in pixel space (column, row) of the full-resolution grid.
    to_pixels = Affine.scale(width / out_shape[1], height / out_shape[0])
    parts = [
        shape(polygon) for polygon, _ in shapes(mask.view(np.uint8), mask=mask, transform=to_pixels)
    ]
    outline = _without_holes(shapely.union_all(parts)).simplify(factor)
    outline = shapely.segmentize(outline, max(width, height) / SEGMENTS_PER_SIDE)
    lonlat = _to_lonlat(dataset, outline)
    lonlat = shapely.set_precision(shapely.make_valid(lonlat), GRID_SIZE)
    polygons = [part for part in getattr(lonlat, "geoms", [lonlat]) if part.geom_type == "Polygon"]
    if not polygons:
        raise NoFootprintError("the valid-data area vanishes once in longitude/latitude")
    merged = shapely.union_all(polygons)
    if merged.geom_type == "Polygon":
        return orient(merged)
    return shapely.MultiPolygon([orient(part) for part in merged.geoms])


def _without_holes(geometry: BaseGeometry) -> BaseGeometry:
    return shapely.union_all(
        [Polygon(part.exterior) for part in getattr(geometry, "geoms", [geometry])]
    )


def _to_lonlat(dataset: DatasetReader, outline: BaseGeometry) -> BaseGeometry:
    """Pixel-space geometry → EPSG:4326, through the geotransform or else the GCPs."""
    if dataset.crs is not None:
        in_crs = affine_transform(outline, dataset.transform.to_shapely())
        return shape(transform_geom(dataset.crs, LONLAT, mapping(in_crs)))
    gcps, gcp_crs = dataset.gcps
    if not gcps or gcp_crs is None:
        raise NoFootprintError("no georeferencing (neither a CRS nor ground control points)")
    transformer = GCPTransformer(gcps)

    def through_gcps(columns_rows: Any) -> Any:
        xs, ys = transformer.xy(columns_rows[:, 1], columns_rows[:, 0], offset="ul")
        return np.column_stack([xs, ys])

    in_gcp_crs = shapely.transform(outline, through_gcps)
    if gcp_crs == LONLAT:
        return in_gcp_crs
    return shape(transform_geom(gcp_crs, LONLAT, mapping(in_gcp_crs)))
