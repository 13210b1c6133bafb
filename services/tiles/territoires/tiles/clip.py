"""A raster layer cut to a territory for desktop GIS: the GeoTIFF of the newest result over it,
masked outside its outline, with a QGIS style (QML, loaded by QGIS with the file of the same
name) drawn from the registry's legend and a metadata file, in one zip.

The file is read through the asset guard like any tile, in the service's own projection of the
result (no resampling: the values are the computed ones).
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any
from xml.etree import ElementTree

import rasterio
from rasterio.io import MemoryFile
from rasterio.mask import mask
from rasterio.warp import transform_geom

from territoires.shared.errors import NotFoundError
from territoires.shared.indicators import Indicator


def qml(indicator: Indicator) -> str:
    """The QGIS raster style of an indicator: a colour ramp interpolated between the legend's
    values (continuous), or one colour per class (categorical), labelled as the legend is."""
    root = ElementTree.Element("qgis", version="3.34", styleCategories="AllStyleCategories")
    pipe = ElementTree.SubElement(root, "pipe")
    low, high = indicator.value_range
    common = {"band": "1", "opacity": "1", "alphaBand": "-1", "nodataColor": ""}
    entries = []
    for entry in indicator.legend:
        colour = entry.color[:7]
        alpha = str(int(entry.color[7:9], 16)) if len(entry.color) == 9 else "255"
        entries.append((f"{entry.value:g}", colour, alpha, entry.label))
    if indicator.kind == "categorical":
        renderer = ElementTree.SubElement(pipe, "rasterrenderer", type="paletted", **common)
        palette = ElementTree.SubElement(renderer, "colorPalette")
        for value, colour, alpha, label in entries:
            attributes = {"value": value, "color": colour, "alpha": alpha, "label": label}
            ElementTree.SubElement(palette, "paletteEntry", attributes)
    else:
        renderer = ElementTree.SubElement(
            pipe,
            "rasterrenderer",
            type="singlebandpseudocolor",
            classificationMin=f"{low:g}",
            classificationMax=f"{high:g}",
            **common,
        )
        shader = ElementTree.SubElement(renderer, "rastershader")
        ramp = ElementTree.SubElement(
            shader,
            "colorrampshader",
            colorRampType="INTERPOLATED",
            classificationMode="1",
            clip="0",
            minimumValue=f"{low:g}",
            maximumValue=f"{high:g}",
        )
        for value, colour, alpha, label in entries:
            attributes = {"value": value, "color": colour, "alpha": alpha, "label": label}
            ElementTree.SubElement(ramp, "item", attributes)
    ElementTree.indent(root)
    body = ElementTree.tostring(root, encoding="unicode")
    return f"<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n{body}\n"


def clipped_geotiff(path: str, outline: dict[str, Any], indicator: Indicator) -> tuple[bytes, str]:
    """The result's pixels that touch the outline (GeoJSON, longitude/latitude), the others
    set to the indicator's nodata, as a deflated GeoTIFF; and its CRS."""
    with rasterio.open(path) as source:
        shape = transform_geom("EPSG:4326", source.crs, outline)
        nodata = source.nodata if source.nodata is not None else indicator.nodata
        try:
            data, transform = mask(
                source, [shape], crop=True, all_touched=True, nodata=nodata, filled=True
            )
        except ValueError as error:  # the outline and the raster do not overlap
            raise NotFoundError(
                "this layer's newest result does not cover the territory"
            ) from error
        profile = {
            "driver": "GTiff",
            "width": data.shape[2],
            "height": data.shape[1],
            "count": data.shape[0],
            "dtype": data.dtype,
            "crs": source.crs,
            "transform": transform,
            "nodata": nodata,
            "compress": "deflate",
            "tiled": data.shape[1] >= 256 and data.shape[2] >= 256,
        }
        tags = source.tags()
    with MemoryFile() as memory:
        with memory.open(**profile) as target:
            target.write(data)
            target.update_tags(**tags)
        return memory.read(), source.crs.to_string()


def layer_zip(name: str, geotiff: bytes, indicator: Indicator, metadata: dict[str, Any]) -> bytes:
    """`name`.tif, `name`.qml (QGIS applies it on opening the .tif) and `name`.json."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{name}.tif", geotiff)
        archive.writestr(f"{name}.qml", qml(indicator))
        archive.writestr(f"{name}.json", json.dumps(metadata, ensure_ascii=False, indent=2))
    return out.getvalue()
